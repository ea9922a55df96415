"""Announcing committed changes: per-conversation seq, a stored log, and a broadcast after commit."""

from __future__ import annotations

import asyncio
import atexit
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
    failure here aborts the caller's transaction as a whole.
    """
    with transaction.atomic(savepoint=False):
        seq = _next_seq(conversation_id)
        ConversationEvent.objects.create(
            conversation_id=conversation_id, seq=seq, message_id=message_id, event=event, data=data
        )
        frame = contracts.server_frame(event, data, message_id, seq)
        transaction.on_commit(lambda: event_broadcast(conversation_id, frame))
    return seq


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


def event_broadcast(conversation_id: uuid.UUID, frame: dict[str, Any]) -> None:
    """Best effort: the event is already stored, so a client that misses it gets it on replay."""
    try:
        _broadcaster.send(conversation_group(conversation_id), {"type": "conversation.event", "frame": frame})
    except Exception:
        logger.exception("broadcast of %s seq %s failed; clients recover it by replay", frame["event"], frame["seq"])
