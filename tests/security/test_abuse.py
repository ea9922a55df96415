"""Abuse from one client: limits on sessions, conversations, replays and streams; a socket that never reads;
foreign origins; huge pages."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
import time
import uuid

import httpx
import pytest
import websockets
from channels.db import database_sync_to_async
from django.test import Client

from config.websocket import SEND_BUFFER_FULL
from conversations.models import ChatMessage, Conversation, ConversationEvent
from tests.conftest import side_stack
from tests.support.live import ChatClient

# --- in process: REST limits and page caps --------------------------------------------------------------


def _client_with_csrf(address: str) -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True, REMOTE_ADDR=address)
    response = client.get("/")
    assert response.status_code == 200
    return client, response.cookies["csrftoken"].value


def _address() -> str:
    """A fresh client address per test: the limit counters live in the shared Redis."""
    return f"10.{os.getpid() % 250}.{uuid.uuid4().int % 250}.{int(time.time()) % 250}"


@pytest.mark.django_db
def test_new_conversations_are_limited_per_session(settings):
    settings.CHAT_RATE_LIMIT_CONVERSATION_SESSION = "3/60"
    client, token = _client_with_csrf(_address())
    codes = [client.post("/api/conversations/", {}, content_type="application/json",
                         HTTP_X_CSRFTOKEN=token).status_code for _ in range(5)]
    assert codes == [201, 201, 201, 429, 429]
    refused = client.post("/api/conversations/", {}, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert int(refused["Retry-After"]) > 0
    assert "대화" in refused.json()["detail"]
    assert Conversation.objects.count() == 3


@pytest.mark.django_db
def test_new_sessions_are_limited_per_address(settings):
    settings.CHAT_RATE_LIMIT_NEW_SESSION_IP = "3/60"
    address = _address()
    codes = [Client(REMOTE_ADDR=address).get("/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert Client(REMOTE_ADDR=_address()).get("/").status_code == 200  # another address is not affected


@pytest.mark.django_db
def test_a_huge_limit_is_refused_and_pages_stay_within_the_maximum(settings):
    client, token = _client_with_csrf(_address())
    conversation_id = client.post("/api/conversations/", {}, content_type="application/json",
                                  HTTP_X_CSRFTOKEN=token).json()["id"]
    for i in range(settings.API_MAX_PAGE_SIZE + 5):
        ChatMessage.objects.create(conversation_id=conversation_id, role="user", content=f"q{i}")
    for path in (f"/api/conversations/{conversation_id}/messages/", "/api/messages/", "/api/conversations/"):
        assert client.get(path, {"limit": 100_000_000}).status_code == 400, path
    page = client.get("/api/messages/").json()
    assert page["count"] == settings.API_MAX_PAGE_SIZE + 5
    assert len(page["results"]) <= settings.API_MAX_PAGE_SIZE
    full = client.get("/api/messages/", {"limit": settings.API_MAX_PAGE_SIZE}).json()
    assert len(full["results"]) == settings.API_MAX_PAGE_SIZE and full["next"]


# --- live: origins ----------------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.asyncio
async def test_foreign_port_or_scheme_origin_is_refused_and_the_exact_one_accepted(chat_client, live):
    conversation_id = chat_client.conversation_create()
    port = live.port
    for origin in ("http://127.0.0.1:1", f"https://127.0.0.1:{port}", "https://127.0.0.1:4444",
                   f"http://localhost:{port}", f"http://127.0.0.1:{port}.evil.example", "null"):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with chat_client.connect(conversation_id, origin=origin):
                pass
        assert refused.value.response.status_code in (400, 403), origin  # 400: malformed, refused by daphne
    async with chat_client.connect(conversation_id, origin=f"http://127.0.0.1:{port}") as ws:
        await ws.send(json.dumps({"type": "resync"}))
        assert json.loads(await ws.recv())["event"] == "snapshot"


# --- live: replays, streams and a socket that never reads ------------------------------------------------


@pytest.fixture(scope="module")
def abuse_stack(live_stack, tmp_path_factory):
    with side_stack(tmp_path_factory, "abuse-stack", 15, CHAT_RATE_LIMIT_REPLAY_SESSION="10/60",
                    CHAT_RATE_LIMIT_REPLAY_IP="1000/60", SSE_STREAMS_MAX_SESSION="3", SSE_STREAMS_MAX_IP="100",
                    CHAT_SOCKET_SEND_BUFFER_MAX_BYTES=str(1024 * 1024), CHAT_REPLAY_MAX_EVENTS="500",
                    CHAT_RATE_LIMIT_FEEDBACK_SESSION="4/60", CHAT_RATE_LIMIT_FEEDBACK_IP="1000/60") as stack:
        yield stack


def _rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _silent_socket(port: int, path: str, cookie: str, origin: str) -> socket.socket:
    """A WebSocket handshake on a raw socket with a tiny receive buffer, which then never reads."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nCookie: {cookie}\r\n"
                  f"Origin: {origin}\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _masked_text_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + masked


def _closed_by_server(sock: socket.socket, timeout: float) -> tuple[bool, int | None]:
    """Drain what the server sent until it closed the connection; the close code if a close frame came."""
    sock.settimeout(timeout)
    received = b""
    try:
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            received += chunk
    except (ConnectionResetError, BrokenPipeError):
        return True, None
    except TimeoutError:
        return False, None
    marker = received.rfind(b"\x88\x02")  # an unmasked close frame with a 2-byte code
    return True, struct.unpack("!H", received[marker + 2: marker + 4])[0] if marker >= 0 else None


@pytest.mark.integration
def test_3000_resync_frames_from_a_silent_socket_leave_daphne_small_and_the_socket_closed(abuse_stack,
                                                                                          transactional_db):
    client = ChatClient(abuse_stack.base_url)
    conversation_id = client.conversation_create()
    # A long conversation log: every full replay would be about 4 MB.
    filler = "가" * 700
    ConversationEvent.objects.bulk_create(
        ConversationEvent(conversation_id=conversation_id, seq=seq, event="answer_delta",
                          data={"delta": filler, "index": seq}) for seq in range(1, 2001)
    )
    Conversation.objects.filter(pk=conversation_id).update(last_seq=2000)
    port, daphne = abuse_stack.daphnes[0]
    time.sleep(1)
    before = _rss_kib(daphne.pid)

    sock = _silent_socket(port, f"/ws/chat/{conversation_id}/", client.cookie_header, abuse_stack.base_url)
    frame = _masked_text_frame(json.dumps({"type": "resync", "after": 0}).encode())
    sent = 0
    sock.settimeout(20)
    try:
        for _ in range(3000):
            sock.sendall(frame)
            sent += 1
    except (ConnectionResetError, BrokenPipeError, TimeoutError):
        pass  # the server closed it before all 3,000 went out: that is the point
    peak = before
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        peak = max(peak, _rss_kib(daphne.pid))
        time.sleep(0.2)
    closed, code = _closed_by_server(sock, timeout=30)
    sock.close()
    after = _rss_kib(daphne.pid)
    assert sent >= 100, sent
    assert closed, "daphne kept the silent socket open"
    assert code in (None, SEND_BUFFER_FULL, 1008), code
    assert (after - before) < 50 * 1024, f"RSS grew from {before} KiB to {after} KiB (peak {peak} KiB)"
    assert (peak - before) < 50 * 1024, f"RSS peaked at {peak} KiB from {before} KiB"
    # The daphne still serves others.
    assert httpx.get(f"{abuse_stack.base_url}/healthz", timeout=10).status_code == 200
    client.close()


@pytest.mark.integration
@pytest.mark.asyncio
async def test_open_sse_streams_are_capped_per_session(abuse_stack, transactional_db):
    client = ChatClient(abuse_stack.base_url)
    conversation_id = await asyncio.to_thread(client.conversation_create)
    url = f"{abuse_stack.base_url}/api/conversations/{conversation_id}/events"
    async with httpx.AsyncClient(cookies=dict(client.http.cookies), timeout=10) as http:
        streams = []
        for _ in range(3):
            request = http.build_request("GET", url)
            response = await http.send(request, stream=True)
            assert response.status_code == 200
            streams.append(response)
        refused = await http.get(url)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0
        await streams.pop().aclose()
        reopened = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the closed stream's slot is given back when daphne sees it go
            reopened = await http.send(http.build_request("GET", url), stream=True)
            if reopened.status_code == 200:
                break
            await reopened.aclose()
            await asyncio.sleep(0.3)
        assert reopened is not None and reopened.status_code == 200
        streams.append(reopened)
        for response in streams:
            await response.aclose()
    client.close()


@pytest.mark.integration
@pytest.mark.asyncio
async def test_resync_requests_are_limited_per_session(abuse_stack, transactional_db):
    client = ChatClient(abuse_stack.base_url)
    conversation_id = await asyncio.to_thread(client.conversation_create)
    async with client.connect(conversation_id) as ws:
        events = []
        for _ in range(12):
            await ws.send(json.dumps({"type": "resync", "after": 0}))
            events.append(json.loads(await ws.recv()))
    assert [e["event"] for e in events[:10]] == ["snapshot"] * 10
    assert [e["data"]["code"] for e in events[10:]] == ["rate_limited", "rate_limited"]
    client.close()


@pytest.mark.integration
@pytest.mark.asyncio
async def test_answer_votes_over_the_socket_are_limited_per_session(abuse_stack, transactional_db):
    client = ChatClient(abuse_stack.base_url)
    conversation_id = await asyncio.to_thread(client.conversation_create)

    def exchange() -> int:
        question = ChatMessage.objects.create(conversation_id=conversation_id, role="user", content="8517.13",
                                              status="completed")
        return ChatMessage.objects.create(conversation_id=conversation_id, role="assistant", reply_to=question,
                                          content="8517.13: 스마트폰", status="completed").pk

    answer_id = await database_sync_to_async(exchange)()
    async with client.connect(conversation_id) as ws:
        frames = []
        for vote in ("up", "down", "up", "down", "up", "down"):
            await ws.send(json.dumps({"type": "answer.feedback", "message_id": answer_id, "vote": vote}))
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), 15)))
    assert [f["event"] for f in frames[:4]] == ["answer_feedback"] * 4
    assert [f["data"]["code"] for f in frames[4:]] == ["rate_limited", "rate_limited"]
    stored = ConversationEvent.objects.filter(conversation_id=conversation_id, event="answer_feedback")
    assert await database_sync_to_async(stored.count)() == 4  # the refused votes changed nothing
    client.close()
