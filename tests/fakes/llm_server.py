"""A fake OpenAI-compatible chat-completions server: real HTTP on 127.0.0.1, streamed SSE chunks.

    POST /v1/chat/completions  {"stream": true, ...}  → text/event-stream of chat.completion.chunk
    POST /_control             {"mode": "stream"|"hang"|"error"|"malformed"|"cut", "delay": s, "text": "..."}
    GET  /_control             {"requests": n, "mode": ...}

Modes: stream (the words of `text`, one chunk each, `delay` seconds apart), hang (headers, then
nothing), error (HTTP 500), malformed (a chunk that is not JSON), cut (a few chunks, then the
connection closes without [DONE]). Works in-process (`with FakeLlmServer() as llm`) — the
control endpoint lets a test steer it while daphne and Celery run as other processes.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DEFAULT_TEXT = (
    "스마트폰은 HS 8517.13에 분류됩니다. 이 답변은 테스트용 가짜 LLM 서버가 한 단어씩 보내는 스트림입니다 "
    "그래서 화면에 답변이 조금씩 자라나는 모습을 확인할 수 있습니다."
)


class _Handler(BaseHTTPRequestHandler):
    server: FakeLlmServer  # type: ignore[assignment]
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def _json(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/_control":
            self._json(200, {"requests": self.server.requests, **self.server.state})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/_control":
            self.server.state.update(body)
            self._json(200, self.server.state)
            return
        if not self.path.endswith("/chat/completions"):
            self._json(404, {"error": "not found"})
            return
        self.server.requests += 1
        self.server.last_body = body
        state = dict(self.server.state)
        mode = state.get("mode", "stream")
        if mode == "error":
            self._json(500, {"error": {"message": "fake failure"}})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        if mode == "hang":
            time.sleep(float(state.get("hang", 30)))
            return
        words = str(state.get("text", DEFAULT_TEXT)).split(" ")
        try:
            for i, word in enumerate(words):
                if mode == "cut" and i == 3:
                    return
                piece = word if i == 0 else " " + word
                chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                         "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                line = "data: {not json\n\n" if mode == "malformed" and i == 2 else f"data: {json.dumps(chunk)}\n\n"
                self.wfile.write(line.encode())
                self.wfile.flush()
                time.sleep(float(state.get("delay", 0.05)))
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


class FakeLlmServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int = 0):
        super().__init__(("127.0.0.1", port), _Handler)
        self.state: dict = {}
        self.reset()
        self.requests = 0
        self.last_body: dict | None = None
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def set(self, **state) -> None:
        self.state.update(state)

    def reset(self) -> None:
        """Back to a healthy stream (what a test finds unless it sets a fault)."""
        self.state = {"mode": "stream", "delay": 0.05}

    def __enter__(self) -> FakeLlmServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()
