"""Ordered, gap-free, duplicate-free delivery of a conversation's events, shared by WebSocket and SSE.

The database log is the truth; the channel layer only says "something new".
- Join the group first, then read the log, then pass live events, dropping any at
  or below what was already delivered (docs/pitfalls.md, "Join first, then read").
- Broadcasts from different workers may overtake each other, and channels_redis
  may drop a message. Seqs are allocated under the conversation's row lock, so a
  gap means the missing events are committed: read them from the log.
- Frames committed by one transaction come as one channel-layer message
  (`conversation.events`, in seq order); they go through the cursor one by one.
- A dropped *last* event leaves no gap to notice. Only this socket's own unfinished work
  can end in such an event (its message's tracks, the event of a vote it cast), so the
  cursor says when it starts expecting something (`on_expecting`) and the consumer polls
  the log's head only until nothing is expected any more. An idle socket runs no timer:
  a later event's seq shows any gap, which is filled then. What an idle socket can miss
  for good is a lost event that is the conversation's last one and that nobody on this
  socket waits for (another tab's message); it is in the log and comes on the next
  event, a reconnect or a resync. docs/pitfalls.md, "A lost last event".
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

from channels.db import database_sync_to_async
from django.conf import settings

from . import contracts
from .selectors import conversation_last_seq, conversation_snapshot, event_list_after

# A message is in flight from its first event until both tracks end (buttons, answer).
_BUTTONS_END = {contracts.BUTTONS_COMPLETE}
_ANSWER_END = {contracts.ANSWER_COMPLETE}
# Events about a message after its tracks ended (a bookmark, a vote): they put nothing back in flight.
_AFTERWARDS = {contracts.BOOKMARK_SAVED, contracts.ANSWER_FEEDBACK}
_IN_FLIGHT_MAX_S = 120.0


def _fallback_follows(error_data: dict) -> bool:
    """A Context7 error with fallback still ends in buttons; other button errors end the track."""
    return bool(error_data.get("fallbackActivated") or error_data.get("fallback_status", {}).get("activated"))


class EventCursor:
    def __init__(self, conversation_id: uuid.UUID, send: Callable[[dict], Awaitable[None]],
                 on_expecting: Callable[[], None] | None = None):
        self.conversation_id = conversation_id
        self._send = send
        self._on_expecting = on_expecting  # called when work comes in flight: the consumer starts its poll
        self.last_seq = 0
        self._in_flight: dict[int, tuple[float, set[str]]] = {}  # message id -> (since, tracks ended)

    @property
    def in_flight(self) -> bool:
        now = time.monotonic()
        for message_id, (since, _) in list(self._in_flight.items()):
            if now - since > _IN_FLIGHT_MAX_S:
                del self._in_flight[message_id]
        return bool(self._in_flight)

    def expect(self, seconds: float = 30.0) -> None:
        """The client just sent a message: its events are due even before the first one arrives."""
        self._in_flight.setdefault(-1, (time.monotonic() - _IN_FLIGHT_MAX_S + seconds, set()))
        self._expecting()

    def _expecting(self) -> None:
        if self._on_expecting is not None and self._in_flight:
            self._on_expecting()

    def _track(self, frame: dict) -> None:
        message_id = frame.get("message_id")
        if message_id is None or frame["event"] in _AFTERWARDS:
            return
        self._in_flight.pop(-1, None)
        event = frame["event"]
        since, ended = self._in_flight.get(message_id, (time.monotonic(), set()))
        if event in _BUTTONS_END or (event == contracts.BUTTONS_ERROR and not _fallback_follows(frame["data"])):
            ended.add("buttons")
        if event in _ANSWER_END:
            ended.add("answer")
        if {"buttons", "answer"} <= ended:
            self._in_flight.pop(message_id, None)
        else:
            self._in_flight[message_id] = (since, ended)
            self._expecting()

    async def start_live(self) -> None:
        """Deliver only what happens from now on (the caller already has the stored state)."""
        self.last_seq = await database_sync_to_async(conversation_last_seq)(self.conversation_id)

    async def replay(self, after: int) -> None:
        """A snapshot of unfinished work, then the stored events after `after`: at most CHAT_REPLAY_MAX_EVENTS
        of them. When more are stored, a `replay_more` frame says from where to ask again (a resync)."""
        snapshot, head = await database_sync_to_async(conversation_snapshot)(self.conversation_id)
        await self._send(contracts.snapshot_frame(snapshot, last_seq=head))
        for item in snapshot["messages"]:
            self._in_flight[item["message_id"]] = (time.monotonic(), set())
        self._expecting()
        self.last_seq = max(0, min(after, head))
        page = settings.CHAT_REPLAY_MAX_EVENTS
        frames = await database_sync_to_async(event_list_after)(self.conversation_id, self.last_seq, head, page)
        for frame in frames:
            await self._deliver(frame)
        if len(frames) == page and self.last_seq < head:
            await self._send(contracts.replay_more_frame(after=self.last_seq, head=head))

    async def fill(self, up_to: int | None = None) -> None:
        """Deliver the stored events after last_seq (up to `up_to`), a page at a time."""
        page = settings.CHAT_REPLAY_MAX_EVENTS
        while True:
            frames = await database_sync_to_async(event_list_after)(self.conversation_id, self.last_seq, up_to, page)
            for frame in frames:
                await self._deliver(frame)
            if len(frames) < page:
                return

    async def live(self, frame: dict) -> None:
        seq = frame["seq"]
        if seq <= self.last_seq:
            return
        if seq > self.last_seq + 1:
            await self.fill(seq - 1)
        await self._deliver(frame)

    async def live_many(self, frames: list[dict]) -> None:
        """The frames of one committed transaction, in seq order."""
        for frame in sorted(frames, key=lambda frame: frame["seq"]):
            await self.live(frame)

    async def poll_head(self) -> None:
        """Catch up if the log moved on without a broadcast reaching us."""
        head = await database_sync_to_async(conversation_last_seq)(self.conversation_id)
        if head > self.last_seq:
            await self.fill(head)

    async def _deliver(self, frame: dict) -> None:
        if frame["seq"] <= self.last_seq:
            return
        self.last_seq = frame["seq"]
        self._track(frame)
        await self._send(frame)
