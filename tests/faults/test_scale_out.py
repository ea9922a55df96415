"""Two daphne processes and two Celery workers on one PostgreSQL/SQLite and one Redis."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal

import pytest
import websockets
from channels.db import database_sync_to_async

from conversations import contracts
from devtools.redis_server import EmbeddedRedis
from tests.conftest import stack_env
from tests.fakes.llm_server import FakeLlmServer
from tests.support.live import ChatClient, LiveStack, frames_until

# The outer bound of a test that starts its own stack on a loaded machine (its waits are on state, each bounded).
pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.asyncio, pytest.mark.timeout(900)]

DONE = {contracts.BUTTONS_COMPLETE, contracts.BUTTONS_ERROR, contracts.ANSWER_COMPLETE}


def _log(conversation_id: str) -> list[dict]:
    from conversations.models import ConversationEvent

    return [e.as_frame() for e in ConversationEvent.objects.filter(conversation_id=conversation_id).order_by("seq")]


@pytest.fixture
def two_of_each(tmp_path, transactional_db):
    with EmbeddedRedis() as redis:
        stack = LiveStack(stack_env(REDIS_URL=redis.url), tmp_path)
        try:
            first, second = stack.start_daphne(), stack.start_daphne()
            stack.start_worker("a")
            stack.start_worker("b")
            yield stack, first, second
        finally:
            stack.stop()


async def test_two_tabs_on_two_daphnes_see_every_event_and_survive_losing_one(two_of_each):
    stack, first_port, second_port = two_of_each
    tab1 = ChatClient(f"http://127.0.0.1:{first_port}")
    conversation_id = tab1.conversation_create()
    tab2 = ChatClient(f"http://127.0.0.1:{second_port}")
    tab2.http.cookies = tab1.http.cookies  # the same person, in a second tab behind another daphne

    async with tab1.connect(conversation_id) as ws1, tab2.connect(conversation_id) as ws2:
        await ws1.send(json.dumps({"type": "chat.message", "message": "8517.13 관세율 알려줘"}))
        seen1, seen2 = await asyncio.gather(frames_until(ws1, DONE, count=2, timeout=120),
                                            frames_until(ws2, DONE, count=2, timeout=120))
    log = await database_sync_to_async(_log)(conversation_id)
    assert seen1 == log and seen2 == log

    # Lose the first daphne mid-conversation: its tab reconnects to the other one and replays.
    async with tab2.connect(conversation_id, query=f"after={log[-1]['seq']}") as ws2:
        await ws2.recv()  # snapshot
        stack.stop_daphne(first_port, signal.SIGKILL)
        await ws2.send(json.dumps({"type": "chat.message", "message": "HS 8471 수입 규제"}))
        live_frames = await frames_until(ws2, DONE, count=2, timeout=120)
    tab1.base_url = tab2.base_url
    async with tab1.connect(conversation_id, query=f"after={log[-1]['seq']}") as ws1:
        snapshot = json.loads(await ws1.recv())
        assert snapshot["event"] == contracts.SNAPSHOT
        replayed = [json.loads(await asyncio.wait_for(ws1.recv(), 30)) for _ in live_frames]
    assert replayed == live_frames
    assert log + live_frames == await database_sync_to_async(_log)(conversation_id)
    tab1.close()
    tab2.close()


def _in_flight(conversation_id: str) -> tuple[str, str | None, int]:
    """(the person's message status, its answer's status or None, the conversation's last seq), from the database."""
    from conversations.models import ChatMessage, Conversation

    message = ChatMessage.objects.filter(conversation_id=conversation_id, role="user").latest("id")
    answer = ChatMessage.objects.filter(reply_to=message).values_list("status", flat=True).first()
    return message.status, answer, Conversation.objects.get(pk=conversation_id).last_seq


async def _read_until_done(client: ChatClient, conversation_id: str, frames: list[dict], timeout: float) -> None:
    """Reconnect (as the browser does, with ?after=<last seq seen>) and read until buttons and answer are done."""
    after = frames[-1]["seq"] if frames else 0
    async with client.connect(conversation_id, query=f"after={after}") as ws, asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if frame["event"] == contracts.SNAPSHOT:
                continue
            frames.append(frame)
            done = {f["event"] for f in frames} & DONE
            if contracts.ANSWER_COMPLETE in done and done - {contracts.ANSWER_COMPLETE}:
                return


async def test_killing_a_daphne_that_holds_live_sockets_mid_stream_loses_nothing(tmp_path, transactional_db):
    """Three people on daphne A are mid-answer when A is killed; each browser reconnects to daphne B with its last
    seq and sees every remaining event exactly once."""
    with EmbeddedRedis() as redis, FakeLlmServer() as llm:
        llm.set(mode="stream", delay=0.25)  # about 8 s of answer: the kill lands mid-stream
        stack = LiveStack(stack_env(REDIS_URL=redis.url, LLM_BACKEND="openai", LLM_BASE_URL=llm.base_url,
                                    LLM_MODEL="fake-model", LLM_API_KEY="test-key", LLM_TIMEOUT_S="5"), tmp_path)
        try:
            doomed, survivor = stack.start_daphne(), stack.start_daphne()
            stack.start_worker("a")
            stack.start_worker("b")
            people = [ChatClient(f"http://127.0.0.1:{doomed}") for _ in range(3)]
            conversations = [person.conversation_create() for person in people]
            seen: list[list[dict]] = [[] for _ in people]
            sockets = [await person.connect(c).__aenter__() for person, c in zip(people, conversations, strict=True)]
            for ws in sockets:
                await ws.send(json.dumps({"type": "chat.message", "message": "스마트폰 8517.13 수출 요건"}))
            for ws, frames in zip(sockets, seen, strict=True):  # every answer has started streaming
                frames += await frames_until(ws, {contracts.ANSWER_DELTA}, timeout=120)

            at_kill = [await database_sync_to_async(_in_flight)(c) for c in conversations]
            stack.stop_daphne(doomed, signal.SIGKILL)
            for ws, frames in zip(sockets, seen, strict=True):  # what reached each browser before the socket died
                with contextlib.suppress(websockets.ConnectionClosed):
                    while True:
                        frames.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
            assert all(answer == "streaming" for _, answer, _ in at_kill), at_kill  # the fault met work in flight

            for person, conversation_id, frames in zip(people, conversations, seen, strict=True):
                person.base_url = f"http://127.0.0.1:{survivor}"
                await _read_until_done(person, conversation_id, frames, timeout=180)
                log = await database_sync_to_async(_log)(conversation_id)
                assert frames == log  # nothing lost, nothing twice, in order
            for (_, _, seq_at_kill), frames in zip(at_kill, seen, strict=True):
                # the answers finished after the kill, so they reached the browsers through daphne B
                assert next(f for f in frames if f["event"] == contracts.ANSWER_COMPLETE)["seq"] > seq_at_kill
            for person in people:
                person.close()
        finally:
            stack.stop()
