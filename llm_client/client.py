"""Streaming from any OpenAI-compatible chat-completions endpoint (plain Python, httpx)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx


class LlmError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class LlmConfig:
    base_url: str  # e.g. http://127.0.0.1:8001/v1
    api_key: str
    model: str
    timeout_s: float = 10.0  # the longest wait for the first chunk or between chunks (a hung endpoint)
    max_s: float = 120.0  # the whole answer


def chat_completion_stream(config: LlmConfig, messages: list[dict[str, str]]) -> Iterator[str]:
    """Yield content deltas. Raises LlmError on HTTP errors, malformed streams or when the budget runs out."""
    deadline = time.monotonic() + config.max_s
    timeout = httpx.Timeout(connect=min(2.0, config.timeout_s), read=config.timeout_s, write=2.0, pool=2.0)
    headers = {"Accept": "text/event-stream"}
    if config.api_key:
        headers["Authorization"] = f"Bearer {config.api_key}"
    body = {"model": config.model, "messages": messages, "stream": True, "temperature": 0.2}
    url = config.base_url.rstrip("/") + "/chat/completions"
    try:
        with httpx.stream("POST", url, json=body, headers=headers, timeout=timeout) as response:
            if response.status_code != 200:
                raise LlmError(f"LLM endpoint answered {response.status_code}")
            for line in response.iter_lines():
                if time.monotonic() > deadline:
                    raise LlmError("LLM answer exceeded its time budget")
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    return
                try:
                    chunk = json.loads(payload)
                    delta = chunk["choices"][0].get("delta", {}).get("content") or ""
                except (ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
                    raise LlmError(f"malformed stream chunk: {payload[:80]!r}") from error
                if delta:
                    yield delta
            raise LlmError("stream ended before [DONE]")
    except httpx.HTTPError as error:
        raise LlmError(f"LLM endpoint unreachable: {error.__class__.__name__}") from error
