"""Client for any OpenAI-compatible chat-completions endpoint (plain Python, httpx; no Django)."""

from llm_client.client import LlmConfig, LlmError, chat_completion_stream

__all__ = ["LlmConfig", "LlmError", "chat_completion_stream"]
