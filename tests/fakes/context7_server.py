"""A fake Context7 API server for tests: real HTTP on 127.0.0.1, switchable faults.

Endpoints (same paths and shapes as the live API, docs/research/context7-api.md):

    GET  /api/v2/libs/search?libraryName=&query=      JSON {results, searchFilterApplied}
    GET  /api/v2/context?libraryId=&query=[&type=json] text (v2 format; v1 with text_format="v1") or JSON

Control endpoints (for a server running in another process):

    POST   /_control/faults   JSON {"kind": ..., "times": N|null, "endpoint": "search"|"context"|null, ...params}
    DELETE /_control/faults   clear all faults
    POST   /_control/reset    clear faults, counters and recorded requests
    POST   /_control/config   JSON {"text_format": "v2"|"v1"}
    GET    /_control/stats    {"total": n, "search": n, "context": n}

Fault kinds (`set_fault(kind, times=None, endpoint=None, **params)`):

    latency              delay=<s> before answering (combines with any other fault)
    slow_body            headers at once, then the body in pieces every interval=<s>
    rate_limit           429 rate_limit_exceeded, retry_after=<s> (Retry-After + RateLimit-* headers)
    server_error         status=500|502|503|504, optional retry_after=<s>
    unauthorized         401 invalid_api_key (status=403 gives access_denied)
    library_not_found    404 library_not_found
    no_relevant_snippets 404 no_relevant_snippets
    malformed_json       200 application/json with a broken JSON body
    truncated            200 with Content-Length larger than the body sent, then the socket closes
    reset                the socket is reset (RST) without any response
    html_error           502 text/html page, as an intermediary would send
    status               any status=<n> with error=<code>, message=<text>

`times=N` limits a fault to the next N matching requests; faults are consumed
in the order set. Usage:

    with FakeContext7Server() as server:           # or the `context7_server` pytest fixture
        server.set_fault("rate_limit", retry_after=1, times=1)
        ... Context7Config(base_url=server.url) ...
        assert server.request_count("search") == 2

As a separate process: `python -m tests.fakes.context7_server --port 0` prints
`READY http://127.0.0.1:<port>/api`; `FakeContext7Process` wraps that and
offers the same control methods over HTTP.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

FAULT_KINDS = frozenset(
    {
        "latency",
        "slow_body",
        "rate_limit",
        "server_error",
        "unauthorized",
        "library_not_found",
        "no_relevant_snippets",
        "malformed_json",
        "truncated",
        "reset",
        "html_error",
        "status",
    }
)

# --- realistic content ---------------------------------------------------------
LIBRARIES: list[dict[str, Any]] = [
    {
        "id": "/wco/hs-nomenclature-2022",
        "title": "HS Nomenclature 2022",
        "description": "World Customs Organization Harmonized System, 2022 edition: sections, chapters, "
        "headings, subheadings and classification notes.",
        "branch": "main",
        "lastUpdateDate": "2026-03-02T08:15:00.000Z",
        "state": "finalized",
        "totalTokens": 812345,
        "totalSnippets": 4210,
        "stars": -1,
        "trustScore": 8.7,
        "benchmarkScore": 91.1,
        "versions": ["2022", "2017"],
        "source": "Local (Private)",
        "someFutureField": {"ignored": True},
    },
    {
        # Only the fields the upstream integration stub sends: the optional ones are missing.
        "id": "/kcs/korea-customs-tariff",
        "title": "Korea Customs Tariff (HSK)",
        "description": "관세율표 (HSK 10단위) 및 품목분류 사례",
        "branch": "main",
        "lastUpdateDate": "2026-01-20T00:00:00.000Z",
        "state": "finalized",
        "totalTokens": 120000,
        "totalSnippets": 950,
    },
    {
        "id": "/vercel/next.js",
        "title": "Next.js",
        "description": "The React Framework",
        "branch": "canary",
        "lastUpdateDate": "2026-08-01T10:30:00.000Z",
        "state": "finalized",
        "totalTokens": 1500000,
        "totalSnippets": 9000,
        "trustScore": 9.5,
    },
]


@dataclass
class Entry:
    title: str
    source: str
    description: str
    keywords: tuple[str, ...]
    code: tuple[tuple[str, str], ...] = ()  # (language, code)
    breadcrumb: str = ""  # info snippets: "A > B"

    @property
    def is_code(self) -> bool:
        return bool(self.code)


HS_DOC = "https://www.wcoomd.org/en/topics/nomenclature/instrument-and-tools/hs-nomenclature-2022-edition"
DOCUMENTS: dict[str, list[Entry]] = {
    "/wco/hs-nomenclature-2022": [
        Entry(
            title="Smartphones: HS 8517.13",
            source=f"{HS_DOC}/section-xvi/chapter-85/heading-8517.md",
            description="HS 8517.13 smartphones: telephones for cellular networks or for other wireless "
            "networks that also run general-purpose applications. Other cellular telephones "
            "(feature phones) fall in 8517.14. Base stations are classified in 8517.61.",
            keywords=(
                "smartphone",
                "smartphones",
                "phone",
                "phones",
                "mobile",
                "cellular",
                "telephone",
                "스마트폰",
                "휴대폰",
                "핸드폰",
                "아이폰",
                "전화기",
            ),
            code=(("json", '{\n  "hs_code": "8517.13",\n  "description": "Smartphones",\n  "chapter": "85"\n}'),),
        ),
        Entry(
            title="Heading 8517 > Telephone sets",
            source=f"{HS_DOC}/section-xvi/chapter-85/heading-8517-notes.md",
            description="",
            breadcrumb="Chapter 85 > Heading 8517 > Telephone sets",
            keywords=("phone", "smartphone", "telephone", "heading", "8517", "스마트폰", "전화기"),
        ),
        Entry(
            title="Portable computers: HS 8471.30",
            source=f"{HS_DOC}/section-xvi/chapter-84/heading-8471.md",
            description="Laptops and notebooks (portable automatic data-processing machines weighing not "
            "more than 10 kg) are classified in subheading 8471.30.",
            keywords=("laptop", "laptops", "notebook", "computer", "portable", "노트북", "컴퓨터"),
            code=(("text", "Subheading 8471.30  Portable automatic data-processing machines, <= 10 kg"),),
        ),
        Entry(
            title="Lithium-ion accumulators: HS 8507.60",
            source=f"{HS_DOC}/section-xvi/chapter-85/heading-8507.md",
            description="Lithium-ion batteries for phones and electric vehicles: HS 8507.60. "
            "A phone shipped with its battery is classified with the phone (8517.13).",
            keywords=("battery", "batteries", "lithium", "accumulator", "배터리", "이차전지", "phone"),
            code=(("yaml", "hs: 8507.60\nname: lithium-ion accumulators"),),
        ),
        Entry(
            title="Cosmetics: HS 3304.99",
            source=f"{HS_DOC}/section-vi/chapter-33/heading-3304.md",
            description="Skin-care and make-up preparations not elsewhere specified (creams, serums, "
            "sunscreens): HS 3304.99. 화장품(기초화장품)은 제3304호에 분류된다.",
            keywords=("cosmetics", "cosmetic", "skin", "cream", "serum", "makeup", "화장품", "크림"),
        ),
        Entry(
            title="Electric vehicles: HS 8703.80",
            source=f"{HS_DOC}/section-xvii/chapter-87/heading-8703.md",
            description="Motor cars with only an electric motor for propulsion: HS 8703.80.",
            keywords=("electric", "vehicle", "vehicles", "car", "ev", "전기차", "자동차"),
        ),
        Entry(
            title="General Interpretative Rules > Rule 1",
            source=f"{HS_DOC}/gir.md",
            description="",
            breadcrumb="General Interpretative Rules > Rule 1",
            keywords=("rule", "rules", "classification", "interpretation", "분류", "통칙"),
        ),
    ],
    "/kcs/korea-customs-tariff": [
        Entry(
            title="스마트폰 품목분류 (HSK 8517.13-0000)",
            source="https://unipass.customs.go.kr/clip/hsinfo/8517130000",
            description="스마트폰은 HSK 8517.13-0000 (제8517호)에 분류되며 기본관세율은 0%이다.",
            keywords=("스마트폰", "휴대폰", "smartphone", "phone", "아이폰"),
        ),
        Entry(
            title="노트북 품목분류 (HSK 8471.30-0000)",
            source="https://unipass.customs.go.kr/clip/hsinfo/8471300000",
            description="휴대용 자동자료처리기계(노트북)는 HSK 8471.30-0000에 분류된다.",
            keywords=("노트북", "laptop", "notebook", "컴퓨터"),
        ),
    ],
    "/vercel/next.js": [
        Entry(
            title="Middleware Authentication Example",
            source="https://github.com/vercel/next.js/blob/canary/docs/middleware.mdx",
            description="Shows how to check a session cookie in middleware.",
            keywords=("middleware", "auth", "authentication", "cookie"),
            code=(("typescript", "export function middleware(req) {\n  return NextResponse.next()\n}"),),
        ),
    ],
}


def _words(text: str) -> set[str]:
    return {w.casefold() for w in re.findall(r"[\w가-힣]+", text)}


def select_entries(library_id: str, query: str) -> list[Entry]:
    """Entries sharing words with the query, best first (what the live reranker roughly does)."""
    entries = DOCUMENTS.get(library_id, [])
    words = _words(query)
    scored = []
    for index, entry in enumerate(entries):
        score = len(words & set(entry.keywords)) * 2 + len(words & _words(entry.title))
        if score:
            scored.append((-score, index, entry))
    return [entry for _, _, entry in sorted(scored, key=lambda item: (item[0], item[1]))]


def render_v2(entries: list[Entry]) -> str:
    parts = []
    for entry in entries:
        lines = [f"### {entry.breadcrumb or entry.title}", "", f"Source: {entry.source}", ""]
        if entry.description:
            lines += [entry.description, ""]
        if not entry.is_code and not entry.description:
            lines += [f"{entry.title}. See the legal text of the heading and its notes.", ""]
        for language, code in entry.code:
            lines += [f"```{language}", code, "```", ""]
        parts.append("\n".join(lines).rstrip("\n"))
    return ("\n\n" + "-" * 32 + "\n\n").join(parts)


def render_v1(entries: list[Entry]) -> str:
    banner = "=" * 24
    parts = []
    for number, entry in enumerate(entries, 1):
        lines = [
            f"TITLE: {entry.title}",
            f"DESCRIPTION: {entry.description or entry.breadcrumb}",
            "",
            f"SOURCE: {entry.source}#_snippet_{number}",
        ]
        for language, code in entry.code:
            lines += ["", f"LANGUAGE: {language}", "CODE:", "```", code, "```"]
        parts.append("\n".join(lines))
    return f"{banner}\nCODE SNIPPETS\n{banner}\n" + ("\n\n" + "-" * 40 + "\n\n").join(parts)


def render_json(entries: list[Entry]) -> dict[str, Any]:
    code_snippets, info_snippets = [], []
    for number, entry in enumerate(entries, 1):
        if entry.is_code:
            code_snippets.append(
                {
                    "codeTitle": entry.title,
                    "codeDescription": entry.description,
                    "codeLanguage": entry.code[0][0],
                    "codeTokens": 40 + len(entry.description) // 4,
                    "codeId": f"{entry.source}#_snippet_{number}",
                    "pageTitle": entry.title.split(":")[0],
                    "codeList": [{"language": lang, "code": code} for lang, code in entry.code],
                }
            )
        else:
            content = entry.description or f"{entry.title}. See the legal text of the heading and its notes."
            info_snippets.append(
                {
                    "pageId": entry.source,
                    "breadcrumb": entry.breadcrumb or entry.title,
                    "content": content,
                    "contentTokens": 10 + len(content) // 4,
                }
            )
    return {"codeSnippets": code_snippets, "infoSnippets": info_snippets, "rules": {"global": [], "futureKey": 1}}


# --- faults ---------------------------------------------------------------------
@dataclass
class Fault:
    kind: str
    times: int | None = None
    endpoint: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, endpoint: str) -> bool:
        return (self.endpoint is None or self.endpoint == endpoint) and (self.times is None or self.times > 0)


@dataclass
class RecordedRequest:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    at: float


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    fake: FakeContext7Server

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout, reset) leaves a broken pipe behind: expected here.
        if not isinstance(sys.exc_info()[1], ConnectionError | OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # --- plumbing -------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), "application/json", headers)

    def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        self._json(status, {"error": code, "message": message}, headers)

    def _reset(self) -> None:
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _body_json(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw or b"{}")

    # --- control ------------------------------------------------------------
    def do_POST(self) -> None:
        fake = self.server.fake
        path = urlsplit(self.path).path
        if path == "/_control/faults":
            data = self._body_json()
            kind = data.pop("kind")
            fault = fake.set_fault(kind, times=data.pop("times", None), endpoint=data.pop("endpoint", None), **data)
            self._json(200, {"kind": fault.kind})
        elif path == "/_control/reset":
            fake.reset()
            self._json(200, {"ok": True})
        elif path == "/_control/config":
            data = self._body_json()
            if "text_format" in data:
                fake.text_format = data["text_format"]
            self._json(200, {"ok": True})
        else:
            self._error(404, "not_found", "unknown control endpoint")

    def do_DELETE(self) -> None:
        if urlsplit(self.path).path == "/_control/faults":
            self.server.fake.clear_faults()
            self._json(200, {"ok": True})
        else:
            self._error(404, "not_found", "unknown control endpoint")

    # --- API ----------------------------------------------------------------
    def do_GET(self) -> None:
        fake = self.server.fake
        split = urlsplit(self.path)
        if split.path == "/_control/stats":
            self._json(200, fake.stats())
            return
        params = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        endpoint = {"/api/v2/libs/search": "search", "/api/v2/context": "context"}.get(split.path)
        fake._record(RecordedRequest("GET", split.path, params, dict(self.headers.items()), time.monotonic()), endpoint)
        if endpoint is None:
            self._error(404, "not_found", "Endpoint not found.")
            return
        delay, fault = fake._take_faults(endpoint)
        if delay:
            fake._stop.wait(delay)
        if fault is not None and self._apply_fault(fault, endpoint, params):
            return
        expected = fake.api_key
        auth = self.headers.get("Authorization")
        if expected is not None and auth != f"Bearer {expected}":
            self._error(
                401,
                "invalid_api_key",
                "Invalid API key. Please check your API key. API keys should start with 'ctx7sk' prefix.",
            )
            return
        extra = {} if auth else {"X-Context7-Auth-Prompt": "1"}
        if endpoint == "search":
            self._search(params, extra)
        else:
            self._context(
                params, extra, slow=fault.params.get("interval") if fault and fault.kind == "slow_body" else None
            )

    def _apply_fault(self, fault: Fault, endpoint: str, params: dict[str, str]) -> bool:
        """Answer according to `fault`; False when the normal answer should follow (slow_body)."""
        p = fault.params
        kind = fault.kind
        if kind == "rate_limit":
            retry_after = p.get("retry_after", 1)
            headers = {"RateLimit-Limit": "60", "RateLimit-Remaining": "0"}
            if retry_after is not None:
                headers["Retry-After"] = str(retry_after)
                headers["RateLimit-Reset"] = str(int(time.time() + float(retry_after)))
            self._error(
                429, "rate_limit_exceeded", p.get("message", "Rate limit exceeded. Please try again later."), headers
            )
        elif kind == "server_error":
            status = int(p.get("status", 500))
            headers = {"Retry-After": str(p["retry_after"])} if p.get("retry_after") is not None else {}
            code = {503: "search_failed", 504: "timeout"}.get(status, "internal_error")
            message = {503: "Search failed: Service temporarily unavailable"}.get(status, "Internal server error")
            self._error(status, code, message, headers)
        elif kind == "unauthorized":
            status = int(p.get("status", 401))
            if status == 403:
                self._error(403, "access_denied", "Access denied: Library is not included in your allowed libraries")
            else:
                self._error(
                    401,
                    "invalid_api_key",
                    "Invalid API key. Please check your API key. API keys should start with 'ctx7sk' prefix.",
                )
        elif kind == "library_not_found":
            library = params.get("libraryId") or params.get("libraryName") or "?"
            self._error(
                404,
                "library_not_found",
                f'Library "{library}" not found. Please check the library ID or your access permissions.',
            )
        elif kind == "no_relevant_snippets":
            self._error(404, "no_relevant_snippets", "No relevant snippets found for this query.")
        elif kind == "malformed_json":
            self._send(200, b'{"results": [{"id": "/wco/hs-nomenclature-2022", "title": "HS', "application/json")
        elif kind == "truncated":
            body = (
                render_v2(DOCUMENTS["/wco/hs-nomenclature-2022"]).encode()
                if endpoint == "context"
                else (json.dumps({"results": LIBRARIES}).encode())
            )
            self.send_response(200)
            self.send_header(
                "Content-Type", "text/plain; charset=utf-8" if endpoint == "context" else "application/json"
            )
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
        elif kind == "reset":
            self._reset()
        elif kind == "html_error":
            self._send(
                502, b"<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>", "text/html"
            )
        elif kind == "status":
            self._error(
                int(p.get("status", 500)),
                p.get("error", "error"),
                p.get("message", "fault"),
                {k: str(v) for k, v in p.get("headers", {}).items()},
            )
        elif kind == "slow_body":
            return False
        else:  # pragma: no cover - rejected by set_fault
            raise ValueError(kind)
        return True

    def _search(self, params: dict[str, str], extra: dict[str, str]) -> None:
        name = (params.get("libraryName") or "").strip()
        query = (params.get("query") or "").strip()
        if not name and not query:
            self._error(400, "validation_error", "Library name is required")
            return
        words = _words(name or query)
        results = [
            lib for lib in LIBRARIES if words & (_words(lib["title"]) | _words(lib["id"]) | _words(lib["description"]))
        ]
        if not results:
            self._error(404, "no_libraries_found", f'No libraries found for "{name}". Try a different search term.')
            return
        self._json(200, {"results": results, "searchFilterApplied": False}, extra)

    def _context(self, params: dict[str, str], extra: dict[str, str], slow: float | None) -> None:
        library_id = params.get("libraryId") or ""
        query = params.get("query") or ""
        if not library_id or not query:
            self._error(400, "validation_error", "libraryId and query are required")
            return
        if library_id not in DOCUMENTS:
            self._error(
                404,
                "library_not_found",
                f'Library "{library_id}" not found. Please check the library ID or your access permissions.',
            )
            return
        entries = select_entries(library_id, query)
        if not entries:
            self._error(404, "no_relevant_snippets", "No relevant snippets found for this query.")
            return
        if params.get("type") == "json":
            body, content_type = json.dumps(render_json(entries)).encode(), "application/json"
        else:
            text = render_v1(entries) if self.server.fake.text_format == "v1" else render_v2(entries)
            body, content_type = text.encode(), "text/plain; charset=utf-8"
        if slow is None:
            self._send(200, body, content_type, extra)
            return
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        step = max(1, len(body) // 20)
        for start in range(0, len(body), step):
            self.wfile.write(body[start : start + step])
            self.wfile.flush()
            if self.server.fake._stop.wait(slow):
                return


class FakeContext7Server:
    """The fake, in a background thread of this process. Also a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.text_format = "v2"
        self.requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd = _Server((host, port), _Handler)
        self._httpd.fake = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        """Base URL with the /api suffix, as CONTEXT7_API_URL expects."""
        return f"http://127.0.0.1:{self.port}/api"

    def start(self) -> FakeContext7Server:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-context7", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeContext7Server:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- control API ---------------------------------------------------------
    def set_fault(self, kind: str, *, times: int | None = None, endpoint: str | None = None, **params: Any) -> Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {sorted(FAULT_KINDS)}")
        if endpoint not in (None, "search", "context"):
            raise ValueError("endpoint must be 'search', 'context' or None")
        fault = Fault(kind=kind, times=times, endpoint=endpoint, params=params)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        with self._lock:
            self._faults.clear()
            self._counts.clear()
            self.requests.clear()
        self.text_format = "v2"

    def request_count(self, endpoint: str | None = None) -> int:
        """API requests received ("search", "context", or all of them)."""
        with self._lock:
            return self._counts.get(endpoint or "total", 0)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "total": self._counts.get("total", 0),
                "search": self._counts.get("search", 0),
                "context": self._counts.get("context", 0),
            }

    # --- internals -----------------------------------------------------------
    def _record(self, request: RecordedRequest, endpoint: str | None) -> None:
        with self._lock:
            self.requests.append(request)
            self._counts["total"] = self._counts.get("total", 0) + 1
            if endpoint:
                self._counts[endpoint] = self._counts.get(endpoint, 0) + 1

    def _take_faults(self, endpoint: str) -> tuple[float, Fault | None]:
        """(latency to add, the response fault) for one request; consumes `times`."""
        delay = 0.0
        chosen: Fault | None = None
        with self._lock:
            for fault in self._faults:
                if not fault.matches(endpoint):
                    continue
                if fault.kind == "latency":
                    delay += float(fault.params.get("delay", 1.0))
                elif chosen is None:
                    chosen = fault
                else:
                    continue
                if fault.times is not None:
                    fault.times -= 1
        return delay, chosen


class FakeContext7Process:
    """The fake in a separate OS process, controlled over HTTP (same control methods)."""

    def __init__(self, port: int = 0, *, api_key: str | None = None) -> None:
        self._args = [sys.executable, "-m", "tests.fakes.context7_server", "--port", str(port)]
        if api_key:
            self._args += ["--api-key", api_key]
        self._proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self, timeout: float = 15.0) -> FakeContext7Process:
        import pathlib

        root = pathlib.Path(__file__).resolve().parents[2]
        self._proc = subprocess.Popen(self._args, cwd=root, stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        assert self._proc.stdout is not None
        while time.monotonic() < deadline:
            line = self._proc.stdout.readline()
            if line.startswith("READY "):
                self.url = line.split()[1]
                return self
            if not line and self._proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError("fake Context7 server process did not start")

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        if self._proc and self._proc.stdout:
            self._proc.stdout.close()

    def __enter__(self) -> FakeContext7Process:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def _control(self, method: str, path: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        root = self.url.rsplit("/api", 1)[0]
        body = json.dumps(data).encode() if data is not None else None
        request = urllib.request.Request(
            root + path, data=body, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read() or b"{}")

    def set_fault(self, kind: str, *, times: int | None = None, endpoint: str | None = None, **params: Any) -> None:
        self._control("POST", "/_control/faults", {"kind": kind, "times": times, "endpoint": endpoint, **params})

    def clear_faults(self) -> None:
        self._control("DELETE", "/_control/faults")

    def reset(self) -> None:
        self._control("POST", "/_control/reset", {})

    def request_count(self, endpoint: str | None = None) -> int:
        return int(self._control("GET", "/_control/stats")[endpoint or "total"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake Context7 API server for tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default=None, help="require Authorization: Bearer <key>")
    parser.add_argument("--text-format", choices=("v2", "v1"), default="v2")
    args = parser.parse_args(argv)
    server = FakeContext7Server(args.host, args.port, api_key=args.api_key)
    server.text_format = args.text_format
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    server.start()
    print(f"READY {server.url}", flush=True)
    stopped.wait()
    server.stop()


if __name__ == "__main__":
    main()
