"""Two daphne processes and two Celery workers on one PostgreSQL/SQLite and one Redis."""

from __future__ import annotations

import asyncio
import json
import signal

import pytest
from channels.db import database_sync_to_async

from chat import contracts
from devtools.redis_server import EmbeddedRedis
from tests.conftest import stack_env
from tests.support.live import ChatClient, LiveStack, frames_until

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.asyncio]

DONE = {contracts.BUTTONS_COMPLETE, contracts.BUTTONS_ERROR, contracts.ANSWER_COMPLETE}


def _log(conversation_id: str) -> list[dict]:
    from chat.models import ConversationEvent

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
        seen1, seen2 = await asyncio.gather(frames_until(ws1, DONE, count=2), frames_until(ws2, DONE, count=2))
    log = await database_sync_to_async(_log)(conversation_id)
    assert seen1 == log and seen2 == log

    # Lose the first daphne mid-conversation: its tab reconnects to the other one and replays.
    async with tab2.connect(conversation_id, query=f"after={log[-1]['seq']}") as ws2:
        await ws2.recv()  # snapshot
        stack.stop_daphne(first_port, signal.SIGKILL)
        await ws2.send(json.dumps({"type": "chat.message", "message": "HS 8471 수입 규제"}))
        live_frames = await frames_until(ws2, DONE, count=2)
    tab1.base_url = tab2.base_url
    async with tab1.connect(conversation_id, query=f"after={log[-1]['seq']}") as ws1:
        snapshot = json.loads(await ws1.recv())
        assert snapshot["event"] == contracts.SNAPSHOT
        replayed = [json.loads(await asyncio.wait_for(ws1.recv(), 10)) for _ in live_frames]
    assert replayed == live_frames
    assert log + live_frames == await database_sync_to_async(_log)(conversation_id)
    tab1.close()
    tab2.close()
