"""Announcing committed changes: per-conversation seq, a stored log, and one broadcast per commit."""

from __future__ import annotations

import asyncio
import atexit
import functools
import logging
import os
import threading
import uuid
from typing import Any

from channels.layers import get_channel_layer
from django.db import connection, transaction

from . import contracts
from .models import Conversation, ConversationEvent

logger = logging.getLogger(__name__)


def conversation_group(conversation_id: uuid.UUID | str) -> str:
    return f"conversation.{uuid.UUID(str(conversation_id)).hex}"


def _next_seq(conversation_id: uuid.UUID) -> int:
    """Increment and read the conversation's seq in one statement (the row stays locked to commit)."""
    table = Conversation._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_seq = last_seq + 1 WHERE id = %s RETURNING last_seq",
            [Conversation._meta.pk.get_db_prep_value(conversation_id, connection)],
        )
        row = cursor.fetchone()
    if row is None:
        raise Conversation.DoesNotExist(conversation_id)
    return row[0]


def event_emit(*, conversation_id: uuid.UUID, message_id: int | None, event: str, data: dict[str, Any]) -> int:
    """Store the event with the next seq and broadcast it once the surrounding transaction commits.

    The row lock taken by the UPDATE serialises emitters of one conversation, so seqs are
    gap-free and in commit order. Inside a caller's transaction no savepoint is needed: a
    failure here aborts the caller's transaction as a whole. Every event of one conversation
    committed by one transaction goes out in one channel-layer message (_CommitBatch).
    """
    with transaction.atomic(savepoint=False):
        seq = _next_seq(conversation_id)
        ConversationEvent.objects.create(
            conversation_id=conversation_id, seq=seq, message_id=message_id, event=event, data=data
        )
        _CommitBatch.add(conversation_id, contracts.server_frame(event, data, message_id, seq))
    return seq


# The most frames one channel-layer message carries; a transaction's frames beyond it go in further messages.
BATCH_FRAMES_MAX = 32


class _CommitBatch:
    """The frames of one conversation committed by one transaction: one broadcast after commit.

    Django's commit hooks already know savepoints: a hook registered inside a savepoint that is
    rolled back is dropped (BaseDatabaseWrapper.savepoint_rollback), and all of them are dropped
    when the transaction rolls back. So each frame still gets a hook of its own, registered where
    it was emitted, which only adds the frame to the batch; the batch's own hook sends whatever
    was added. That hook must run after every frame's hook and must survive a savepoint rollback
    (frames emitted before the savepoint are still committed), so it is kept at the end of the
    connection's hook list, tagged with no savepoint: each emit moves it behind its own frame.
    The state lives in the connection's hook list only, so it ends with the transaction (commit
    or rollback), and a forked worker starts with none.
    """

    def __init__(self, conversation_id: uuid.UUID) -> None:
        self.conversation_id = conversation_id
        self.frames: list[dict[str, Any]] = []
        self.sent = False

    def __call__(self) -> None:
        self.sent = True
        frames = sorted(self.frames, key=lambda frame: frame["seq"])
        # A transaction that emits very many events (a bulk reprocess) still keeps each layer message small
        # (docs/pitfalls.md, "Size").
        for start in range(0, len(frames), BATCH_FRAMES_MAX):
            events_broadcast(self.conversation_id, frames[start:start + BATCH_FRAMES_MAX])

    @classmethod
    def add(cls, conversation_id: uuid.UUID, frame: dict[str, Any]) -> None:
        hooks = connection.run_on_commit
        batch = None
        for index, (_, hook, _) in enumerate(hooks):
            if isinstance(hook, cls) and str(hook.conversation_id) == str(conversation_id) and not hook.sent:
                batch = hook
                # Its old place becomes a no-op (not removed: TestCase.captureOnCommitCallbacks counts places).
                hooks[index] = (set(), _nothing, False)
                break
        if batch is None:
            batch = cls(conversation_id)
        transaction.on_commit(functools.partial(batch.frames.append, frame))  # dropped with its savepoint
        # Behind this frame's hook, and in no savepoint: a rolled-back savepoint leaves it in place.
        hooks.append((set(), batch, False))


def _nothing() -> None:
    pass


class _Broadcaster:
    """One long-lived event loop per process for channel-layer sends.

    `async_to_sync(group_send)` builds a loop and a Redis connection per call (about 2 ms on
    these machines, docs/pitfalls.md); a loop that lives with the process reuses its pool.
    Sends are queued and made one by one, in the order the commits happened in this process.
    """

    def __init__(self) -> None:
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue | None = None

    def _ensure_started(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return  # started by another thread meanwhile
            loop = asyncio.new_event_loop()
            started = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                self._queue = asyncio.Queue()
                loop.call_soon(started.set)
                loop.run_until_complete(self._drain())

            threading.Thread(target=run, name="event-broadcast", daemon=True).start()
            started.wait(5)
            self._loop = loop
            self._pid = os.getpid()  # a forked child sees another pid and starts its own

    async def _drain(self) -> None:
        layer = get_channel_layer()
        while True:
            group, message = await self._queue.get()
            try:
                await layer.group_send(group, message)
            except Exception:
                logger.exception("broadcast to %s failed; clients recover it from the event log", group)
            finally:
                self._queue.task_done()

    def send(self, group: str, message: dict) -> None:
        self._ensure_started()
        self._loop.call_soon_threadsafe(self._queue.put_nowait, (group, message))

    def flush(self, timeout: float = 2.0) -> None:
        """Wait until everything queued has been sent (at exit, and in tests)."""
        if self._pid != os.getpid() or self._loop is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._queue.join(), self._loop)
        try:
            future.result(timeout)
        except Exception:
            logger.warning("event broadcasts still queued at shutdown; clients recover them from the log")


_broadcaster = _Broadcaster()
atexit.register(_broadcaster.flush)


def events_broadcast(conversation_id: uuid.UUID, frames: list[dict[str, Any]]) -> None:
    """Best effort: the events are already stored, so a client that misses them gets them from the log."""
    try:
        _broadcaster.send(conversation_group(conversation_id), {"type": "conversation.events", "frames": frames})
    except Exception:
        logger.exception("broadcast of seqs %s-%s failed; clients recover them from the log",
                         frames[0]["seq"], frames[-1]["seq"])


def event_broadcast(conversation_id: uuid.UUID, frame: dict[str, Any]) -> None:
    """One frame on its own (the bench's floor measures this path)."""
    events_broadcast(conversation_id, [frame])
