"""Breaking the stack on purpose: a killed worker, a restarted Redis, a database that goes away.

Each test starts servers of its own (a private redis-server, a throwaway PostgreSQL cluster),
so stopping them never touches the machine's shared services.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter

import psycopg
import pytest
import websockets
from channels.db import database_sync_to_async

from chat import contracts
from chat.models import ConversationEvent
from devtools.redis_server import EmbeddedRedis
from tests.conftest import stack_env
from tests.support.live import ChatClient, LiveStack, frames_until
from tests.support.pgcluster import ThrowawayPostgres

pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.asyncio]

DONE = {contracts.BUTTONS_COMPLETE, contracts.BUTTONS_ERROR, contracts.ANSWER_COMPLETE}


@pytest.fixture
def private_redis():
    with EmbeddedRedis() as server:
        yield server


@pytest.fixture
def stack_factory(tmp_path):
    stacks: list[LiveStack] = []

    def make(**env: str) -> LiveStack:
        stack = LiveStack(stack_env(**env), tmp_path)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.stop()


def _log(conversation_id: str) -> list[dict]:
    return [e.as_frame() for e in ConversationEvent.objects.filter(conversation_id=conversation_id).order_by("seq")]


def _assert_exactly_once(log: list[dict]) -> None:
    counts = Counter((f["message_id"], f["event"], f["data"].get("buttonType")) for f in log
                     if f["event"] in {contracts.BUTTON_READY, contracts.BUTTONS_COMPLETE, contracts.ANSWER_COMPLETE})
    assert counts and set(counts.values()) == {1}, counts
    assert [f["seq"] for f in log] == list(range(1, len(log) + 1))


async def _collect_until_done(client: ChatClient, conversation_id: str, after: int, timeout: float,
                              send: str | None = None) -> list[dict]:
    """Read (reconnecting as a browser would, with ?after=) until buttons and answer are both done.

    With `send`, the message is sent once, on the first connection that opens.
    """
    frames: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            async with client.connect(conversation_id, query=f"after={after}") as ws:
                if send is not None:
                    await ws.send(json.dumps({"type": "chat.message", "message": send}))
                    send = None
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
                    if frame["event"] == contracts.SNAPSHOT:
                        continue
                    frames.append(frame)
                    after = frame["seq"]
                    done = {f["event"] for f in frames} & DONE
                    if contracts.ANSWER_COMPLETE in done and done - {contracts.ANSWER_COMPLETE}:
                        return frames
        except (OSError, websockets.ConnectionClosed, websockets.InvalidStatus, websockets.InvalidHandshake):
            await asyncio.sleep(0.5)
    raise AssertionError(f"not done within {timeout}s: {[f['event'] for f in frames]}")


async def test_worker_killed_mid_task_every_message_completes_exactly_once(
    private_redis, stack_factory, llm, transactional_db
):
    llm.set(mode="stream", delay=0.15)
    stack = stack_factory(
        REDIS_URL=private_redis.url, LLM_BACKEND="openai", LLM_BASE_URL=llm.base_url, LLM_TIMEOUT_S="5",
        CELERY_TASK_SOFT_TIME_LIMIT="8", CELERY_TASK_TIME_LIMIT="10", CELERY_VISIBILITY_TIMEOUT="12",
    )
    stack.start_daphne()
    worker = stack.start_worker(concurrency=2)
    clients = [ChatClient(stack.base_url) for _ in range(3)]
    conversations = [c.conversation_create() for c in clients]
    for client, conversation_id in zip(clients, conversations, strict=True):
        async with client.connect(conversation_id) as ws:
            await ws.send(json.dumps({"type": "chat.message", "message": "스마트폰 8517.13 수출 요건"}))
            await frames_until(ws, {contracts.MESSAGE_CREATED})
    # Kill the worker (and its pool children) while answers are streaming.
    async with clients[-1].connect(conversations[-1]) as ws:
        await frames_until(ws, {contracts.ANSWER_DELTA}, timeout=30)
    stack.stop_worker(worker, signal.SIGKILL)
    stack.start_worker(name="after-kill", concurrency=2)

    for client, conversation_id in zip(clients, conversations, strict=True):
        frames = await _collect_until_done(client, conversation_id, after=0, timeout=90)
        log = await database_sync_to_async(_log)(conversation_id)
        assert frames == log
        _assert_exactly_once(log)
        answer = next(f["data"] for f in log if f["event"] == contracts.ANSWER_COMPLETE)
        deltas = "".join(f["data"]["delta"] for f in log if f["event"] == contracts.ANSWER_DELTA)
        assert answer["replaced"] or deltas == answer["content"]  # no delta repeated after the redelivery
        client.close()


async def test_redis_restart_mid_conversation_loses_no_event(private_redis, stack_factory, transactional_db):
    stack = stack_factory(REDIS_URL=private_redis.url, RECOVERY_STALE_AFTER_S="3", RECOVERY_INTERVAL_S="2")
    stack.start_daphne()
    stack.start_worker(concurrency=2, beat=True)
    stack.supervise_workers()  # production restarts a worker that dies with its broker (compose restart policy)
    client = ChatClient(stack.base_url)
    conversation_id = client.conversation_create()
    first = await _collect_until_done(client, conversation_id, 0, timeout=30, send="HS 8517")
    async with client.connect(conversation_id, query=f"after={first[-1]['seq']}") as ws:
        await ws.recv()  # snapshot
        await ws.send(json.dumps({"type": "chat.message", "message": "HS 8517 규제"}))
        await frames_until(ws, {contracts.MESSAGE_CREATED})
        private_redis.restart()  # empty: queued tasks, layer groups and caches are gone
    second = await _collect_until_done(client, conversation_id, after=first[-1]["seq"], timeout=90)
    # After the restart the same socket route works again for new messages.
    third = await _collect_until_done(client, conversation_id, second[-1]["seq"], timeout=60, send="8517.13 관세율")
    log = await database_sync_to_async(_log)(conversation_id)
    assert first + second + third == log
    _assert_exactly_once(log)
    client.close()


async def test_database_outage_refuses_messages_cleanly_and_service_resumes(private_redis, stack_factory, tmp_path):
    postgres = ThrowawayPostgres().init()
    try:
        stack = stack_factory(REDIS_URL=private_redis.url, DATABASE_URL=postgres.url())
        import subprocess
        import sys

        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], env=stack.env, check=True,
                       capture_output=True)
        stack.start_daphne()
        stack.start_worker()
        client = ChatClient(stack.base_url)
        conversation_id = client.conversation_create()
        async with client.connect(conversation_id) as ws:
            await ws.send(json.dumps({"type": "resync"}))
            await ws.recv()  # the snapshot: the socket is fully set up
            postgres.stop()
            await ws.send(json.dumps({"type": "chat.message", "message": "HS 8517 수입"}))
            refused = json.loads(await asyncio.wait_for(ws.recv(), 20))
            assert refused == contracts.error_frame(
                "service_unavailable", "일시적으로 메시지를 저장할 수 없습니다. 잠시 후 다시 보내 주세요.")
            postgres.start()
            await ws.send(json.dumps({"type": "chat.message", "message": "HS 8517 수입"}))
            frames = await frames_until(ws, DONE, count=2, timeout=60)
        assert contracts.BUTTONS_COMPLETE in {f["event"] for f in frames}
        with psycopg.connect(postgres.url().replace("postgres://", "postgresql://")) as db:
            users = db.execute("SELECT count(*) FROM chat_messages WHERE role = 'user'").fetchone()[0]
            events = db.execute("SELECT count(*) FROM chat_conversationevent").fetchone()[0]
        assert users == 1  # the refused message left nothing behind
        assert events == len(frames)
        client.close()
    finally:
        postgres.cleanup()
