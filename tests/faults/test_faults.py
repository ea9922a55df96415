"""Breaking the stack on purpose: a killed worker, a restarted Redis, a database that goes away.

Each test starts servers of its own (a private redis-server, a throwaway PostgreSQL cluster),
so stopping them never touches the machine's shared services.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest
import websockets
from channels.db import database_sync_to_async

from conversations import contracts
from conversations.models import ChatMessage, Conversation, ConversationEvent
from devtools.redis_server import EmbeddedRedis
from tests.conftest import stack_env
from tests.support.live import ChatClient, LiveStack, frames_until
from tests.support.pgcluster import ThrowawayPostgres

# The outer bound of a test that starts its own stack on a loaded machine (its waits are on state, each bounded).
pytestmark = [pytest.mark.faults, pytest.mark.integration, pytest.mark.asyncio, pytest.mark.timeout(900)]

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


def _in_flight(conversation_id: str) -> tuple[str, str | None, int]:
    """(the person's message status, its answer's status or None, the conversation's last seq), from the database."""
    message = ChatMessage.objects.filter(conversation_id=conversation_id, role="user").latest("id")
    answer = ChatMessage.objects.filter(reply_to=message).values_list("status", flat=True).first()
    return message.status, answer, Conversation.objects.get(pk=conversation_id).last_seq


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


def _answer_tasks(log: Path, state: str) -> set[str]:
    """Ids of the answer tasks a worker's log reports as `received` or `succeeded` (Celery's INFO lines)."""
    return set(re.findall(r"Task chat\.tasks\.answer_generate\[([0-9a-f-]+)\] " + state,
                          log.read_text(errors="replace")))


async def test_worker_killed_mid_task_every_message_completes_exactly_once(
    private_redis, stack_factory, llm, transactional_db
):
    llm.set(mode="stream", delay=0.15)
    stack = stack_factory(
        REDIS_URL=private_redis.url, LLM_BACKEND="openai", LLM_BASE_URL=llm.base_url, LLM_TIMEOUT_S="5",
        CELERY_TASK_SOFT_TIME_LIMIT="8", CELERY_TASK_TIME_LIMIT="10", CELERY_VISIBILITY_TIMEOUT="12",
    )
    stack.start_daphne()
    worker = stack.start_worker(name="killed", concurrency=2)
    clients = [ChatClient(stack.base_url) for _ in range(3)]
    conversations = [c.conversation_create() for c in clients]
    for client, conversation_id in zip(clients, conversations, strict=True):
        async with client.connect(conversation_id) as ws:
            await ws.send(json.dumps({"type": "chat.message", "message": "스마트폰 8517.13 수출 요건"}))
            await frames_until(ws, {contracts.MESSAGE_CREATED}, timeout=60)
    # Kill the worker (and its pool children) while answers are streaming.
    async with clients[-1].connect(conversations[-1]) as ws:
        await frames_until(ws, {contracts.ANSWER_DELTA}, timeout=90)
    stack.stop_worker(worker, signal.SIGKILL)
    at_kill = [await database_sync_to_async(_in_flight)(c) for c in conversations]
    # The fault met work in flight: the last person's answer was streaming in the killed worker.
    assert at_kill[-1][1] == "streaming", at_kill
    stack.start_worker(name="after-kill", concurrency=2)

    for client, conversation_id, (_, answer_at_kill, seq_at_kill) in zip(clients, conversations, at_kill,
                                                                         strict=True):
        frames = await _collect_until_done(client, conversation_id, after=0, timeout=180)
        log = await database_sync_to_async(_log)(conversation_id)
        assert frames == log
        _assert_exactly_once(log)
        complete = next(f for f in log if f["event"] == contracts.ANSWER_COMPLETE)
        deltas = [f for f in log if f["event"] == contracts.ANSWER_DELTA]
        if answer_at_kill == "streaming":
            # Only a redelivered task can have finished it: the worker that held it was dead.
            assert complete["seq"] > seq_at_kill
            # It resumed after what was announced: the deltas before and after the kill (none after it, when a
            # slow machine let the killed run announce every word first) join up, none repeated, and the final
            # text is exactly what the browser showed.
            assert any(f["seq"] <= seq_at_kill for f in deltas)
            assert [f["data"]["index"] for f in deltas] == list(range(len(deltas)))
            assert complete["data"]["replaced"] is False
            assert "".join(f["data"]["delta"] for f in deltas) == complete["data"]["content"]
        client.close()
    # The redelivery, counted: every answer task the killed worker had received and not finished was delivered
    # again (the same task id) to the worker started after the kill; the last person's was among them.
    killed, after = stack.log_dir / "celery-killed.log", stack.log_dir / "celery-after-kill.log"
    unfinished_at_kill = _answer_tasks(killed, "received") - _answer_tasks(killed, "succeeded")
    assert unfinished_at_kill, killed.read_text(errors="replace")[-3000:]
    assert unfinished_at_kill <= _answer_tasks(after, "received"), after.read_text(errors="replace")[-3000:]


def _reenqueued(log_dir: Path) -> list[str]:
    """The recovery sweeper's reports ("re-enqueued stale work: {...}") in every worker log of the stack."""
    return [line for log in sorted(log_dir.glob("celery-*.log"))
            for line in log.read_text(errors="replace").splitlines() if "re-enqueued stale work" in line]


async def test_redis_restart_mid_conversation_loses_no_event(private_redis, stack_factory, tmp_path,
                                                             transactional_db):
    """A message whose tasks are queued when Redis restarts empty: its tasks are gone with the queue, the recovery
    sweeper finds it and enqueues its steps again, and the person sees every event exactly once."""
    stack = stack_factory(REDIS_URL=private_redis.url, RECOVERY_STALE_AFTER_S="3", RECOVERY_INTERVAL_S="2")
    stack.start_daphne()
    worker = stack.start_worker(concurrency=2)
    client = ChatClient(stack.base_url)
    conversation_id = client.conversation_create()
    first = await _collect_until_done(client, conversation_id, 0, timeout=120, send="HS 8517")

    stack.stop_worker(worker)  # the next message's tasks wait in Redis's queue
    async with client.connect(conversation_id, query=f"after={first[-1]['seq']}") as ws:
        await ws.recv()  # snapshot
        await ws.send(json.dumps({"type": "chat.message", "message": "HS 8517 규제"}))
        await frames_until(ws, {contracts.MESSAGE_CREATED}, timeout=60)
        status, answer, seq_at_restart = await database_sync_to_async(_in_flight)(conversation_id)
        assert (status, answer) == ("pending", None)  # the fault meets work not yet done
        private_redis.restart()  # empty: queued tasks, layer groups and caches are gone
    assert _reenqueued(stack.log_dir) == []
    stack.start_worker(concurrency=2, beat=True)
    stack.supervise_workers()  # production restarts a worker that dies with its broker (compose restart policy)

    second = await _collect_until_done(client, conversation_id, after=first[-1]["seq"], timeout=180)
    assert second[0]["seq"] == first[-1]["seq"] + 1
    # Its buttons and answer were produced after the restart, by the steps the sweeper enqueued again.
    assert all(f["seq"] > seq_at_restart for f in second if f["event"] in DONE)
    reports = _reenqueued(stack.log_dir)
    assert reports and "'buttons': 1" in reports[0] and "'answers': 1" in reports[0], reports  # recovered, counted
    # After the restart the same socket route works again for new messages.
    third = await _collect_until_done(client, conversation_id, second[-1]["seq"], timeout=120, send="8517.13 관세율")
    log = await database_sync_to_async(_log)(conversation_id)
    assert first + second + third == log
    _assert_exactly_once(log)
    client.close()


@pytest.mark.postgres_cluster
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
