"""Live delivery: the chat WebSocket and the SSE stream. Thin: authorise, parse, call one service, relay."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.http import AsyncHttpConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import DatabaseError

from conversations import contracts
from conversations.delivery import EventCursor
from conversations.events import conversation_group
from conversations.selectors import Owner, conversation_get_for_owner
from hscode.answer_stream import answer_stop_request
from hscode.services import ChoiceError, message_code_choose

from .feedback import answer_feedback_set
from .protocol import FrameError, frame_parse
from .ratelimit import (
    RateLimited,
    owner_rate_key,
    rate_check,
    stream_close,
    stream_open,
    stream_refresh,
)
from .services import bookmark_save, message_create

logger = logging.getLogger(__name__)

# While this socket's own work is in flight, how often the log head is checked for a lost last event.
POLL_INTERVAL_S = 2.0


def scope_owner(scope: dict) -> Owner:
    user = scope.get("user")
    session = scope.get("session")
    user_id = user.pk if user is not None and user.is_authenticated else None
    session_key = (session.session_key or "") if session is not None else ""
    return Owner(user_id=user_id, session_key=session_key)


def scope_limits_key(scope: dict) -> tuple[str, str | None]:
    """The keys the limits count on: the owner (user or session), and the real client's address."""
    owner = scope_owner(scope)
    client = scope.get("client") or (None, None)
    return owner_rate_key(owner.user_id, owner.session_key), client[0]


# Close code for a socket that kept sending frames it was refused (rate-limited) for.
POLICY_VIOLATION = 1008


def _after_param(raw: str | None) -> int | None:
    """`?after=<seq>` or a Last-Event-ID header: a non-negative integer, else None (no replay)."""
    if raw is None or not raw.strip().isascii() or not raw.strip().isdigit() or int(raw.strip()) > contracts.SEQ_MAX:
        return None
    return int(raw.strip())


class _DeliveryMixin:
    """Join the conversation's group, replay if asked, and relay events in order.

    No timer runs while nothing is expected: the poll task exists only while this socket's own
    work is in flight (conversations/delivery.py, docs/pitfalls.md "A lost last event").
    """

    cursor: EventCursor
    _poller: asyncio.Task | None = None
    # Each transport provides: how one frame goes out (a WebSocket message, an SSE event).
    frame_send: Callable[[dict], Awaitable[None]]

    async def delivery_start(self, conversation, after: int | None) -> None:
        self.group = conversation_group(conversation.pk)
        self.cursor = EventCursor(conversation.pk, self.frame_send, on_expecting=self._poll_start)
        # Join first, then read (docs/pitfalls.md).
        await self.channel_layer.group_add(self.group, self.channel_name)
        if after is None:
            await self.cursor.start_live()
        else:
            await self.cursor.replay(after)

    async def delivery_stop(self) -> None:
        poller, self._poller = self._poller, None
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    @property
    def polling(self) -> bool:
        """Whether this socket runs its poll timer now (only while its own work is in flight)."""
        return self._poller is not None and not self._poller.done()

    def _poll_start(self) -> None:
        if not self.polling:
            self._poller = asyncio.get_running_loop().create_task(self._poll_loop())

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(POLL_INTERVAL_S)
            if not self.cursor.in_flight:  # the work ended meanwhile: stop without reading the log
                return
            try:
                await self.cursor.poll_head()
            except Exception:
                logger.exception("event poll failed")

    async def conversation_events(self, event: dict) -> None:
        """The frames one transaction committed (conversations.events)."""
        await self.cursor.live_many(event["frames"])

    async def conversation_event(self, event: dict) -> None:
        # One frame: what a worker still running the previous release sends during a rolling deploy.
        await self.cursor.live(event["frame"])


class ChatConsumer(_DeliveryMixin, AsyncWebsocketConsumer):
    conversation = None
    refusals = 0  # frames refused by a rate limit on this socket

    async def connect(self) -> None:
        conversation_id = self.scope["url_route"]["kwargs"]["conversation_id"]
        try:
            self.conversation = await database_sync_to_async(conversation_get_for_owner)(
                conversation_id, scope_owner(self.scope)
            )
            if self.conversation is None:
                # Refused before accept: the handshake fails with 403 and nothing is joined.
                await self.close()
                return
            query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
            after = _after_param((query.get("after") or [None])[0])
            if after is not None:
                owner_key, client_ip = scope_limits_key(self.scope)
                try:  # a reconnect that asks for a replay counts as one
                    await database_sync_to_async(rate_check)("replay", owner_key=owner_key, client_ip=client_ip)
                except RateLimited:
                    await self.close(code=1013)  # try again later; the browser reconnects with backoff
                    return
            # Joined and positioned before the handshake completes: an open socket is a live one.
            await self.delivery_start(self.conversation, None)
        except DatabaseError:
            logger.warning("database unavailable at connect", exc_info=True)
            await self.close(code=1013)  # try again later
            return
        await self.accept()
        if after is not None:
            await self.cursor.replay(after)

    async def disconnect(self, code: int) -> None:
        await self.delivery_stop()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            frame = frame_parse(text_data, bytes_data)
            owner_key, client_ip = scope_limits_key(self.scope)
            if frame.type == contracts.CLIENT_CHAT_MESSAGE:
                await database_sync_to_async(rate_check)("message", owner_key=owner_key, client_ip=client_ip)
                self.cursor.expect()
                await database_sync_to_async(message_create)(conversation=self.conversation, text=frame.message)
            elif frame.type == contracts.CLIENT_CHAT_STOP:
                await database_sync_to_async(answer_stop_request)(self.conversation.pk, frame.message_id)
            elif frame.type == contracts.CLIENT_RESYNC:
                await database_sync_to_async(rate_check)("replay", owner_key=owner_key, client_ip=client_ip)
                await self.cursor.replay(frame.after)
            elif frame.type == contracts.CLIENT_CODE_CHOOSE:
                self.cursor.expect()
                await database_sync_to_async(message_code_choose)(
                    conversation_id=self.conversation.pk, message_id=frame.message_id, hscode=frame.hscode
                )
            elif frame.type == contracts.CLIENT_BOOKMARK_SAVE:
                await database_sync_to_async(bookmark_save)(conversation=self.conversation, message_id=frame.message_id)
            elif frame.type == contracts.CLIENT_ANSWER_FEEDBACK:
                await database_sync_to_async(rate_check)("feedback", owner_key=owner_key, client_ip=client_ip)
                outcome = await database_sync_to_async(answer_feedback_set)(
                    conversation=self.conversation, message_id=frame.message_id, vote=frame.vote, reason=frame.reason
                )
                if outcome.changed:
                    self.cursor.expect()  # its event is due: polled for, should the broadcast be lost
        except RateLimited as error:
            self.refusals += 1
            if self.refusals > settings.CHAT_SOCKET_REFUSALS_MAX:
                # It keeps asking after being told to wait: not a browser following the protocol.
                await self.close(code=POLICY_VIOLATION)
                return
            await self._send_json(contracts.error_frame(error.code, error.message))
        except (FrameError, ChoiceError) as error:
            await self._send_json(contracts.error_frame(error.code, error.message))
        except DatabaseError:
            # Nothing was saved (the write is one transaction); the person can simply send again.
            logger.warning("database unavailable for conversation %s", self.conversation.pk, exc_info=True)
            await self._send_json(contracts.error_frame(
                "service_unavailable", "일시적으로 메시지를 저장할 수 없습니다. 잠시 후 다시 보내 주세요."))
        except Exception:
            logger.exception("chat frame failed in conversation %s", self.conversation.pk)
            await self._send_json(
                contracts.error_frame("server_error", "메시지를 처리하지 못했습니다. 잠시 후 다시 시도해 주세요.")
            )

    async def frame_send(self, frame: dict) -> None:
        await self._send_json(frame)

    async def _send_json(self, payload: dict) -> None:
        await self.send(text_data=json.dumps(payload, ensure_ascii=False))


class ConversationEventStream(_DeliveryMixin, AsyncHttpConsumer):
    """GET /api/conversations/<id>/events: the same events as text/event-stream; `id:` is the seq."""

    _heartbeat: asyncio.Task | None = None
    _stream_id: str | None = None
    _limits_key: tuple[str, str | None] = ("", None)

    async def _refuse(self, status: int, detail: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        body = json.dumps({"detail": detail}, ensure_ascii=False).encode("utf-8")
        await self.send_response(status, body, headers=[(b"Content-Type", b"application/json"), *headers])

    async def handle(self, body: bytes) -> None:
        if self.scope.get("method") != "GET":
            await self._refuse(405, "Only GET is allowed.", ((b"Allow", b"GET"),))
            return
        conversation_id = self.scope["url_route"]["kwargs"]["conversation_id"]
        conversation = await database_sync_to_async(conversation_get_for_owner)(
            conversation_id, scope_owner(self.scope)
        )
        if conversation is None:
            await self._refuse(404, "Not found.")
            return
        headers = dict(self.scope.get("headers") or [])
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        after_query = (query.get("after") or [None])[-1]
        if after_query is not None and _after_param(after_query) is None:
            await self._refuse(400, f"after: a whole number from 0 to {contracts.SEQ_MAX}")
            return
        # A browser resends whatever Last-Event-ID it kept: anything but a seq there is ignored, not refused.
        last_event_id = _after_param(headers.get(b"last-event-id", b"").decode("latin-1"))
        if last_event_id is None and after_query is not None:
            last_event_id = _after_param(after_query)
        owner_key, client_ip = scope_limits_key(self.scope)
        try:
            if last_event_id is not None:  # a resume replays: it counts as a replay request
                await database_sync_to_async(rate_check)("replay", owner_key=owner_key, client_ip=client_ip)
            self._stream_id = await database_sync_to_async(stream_open)(owner_key=owner_key, client_ip=client_ip)
        except RateLimited as error:
            await self._refuse(429, error.message, ((b"Retry-After", str(error.wait).encode()),))
            return
        self._limits_key = (owner_key, client_ip)
        await self.send_headers(
            headers=[
                (b"Content-Type", b"text/event-stream; charset=utf-8"),
                (b"Cache-Control", b"no-cache"),
                (b"X-Accel-Buffering", b"no"),  # nginx: do not buffer the stream
            ]
        )
        await self.send_body(f"retry: 3000\n: connected to {conversation.pk}\n\n".encode(), more_body=True)
        await self.delivery_start(conversation, last_event_id)
        self._heartbeat = asyncio.create_task(self._heartbeat_loop())

    async def http_request(self, message: dict) -> None:
        # AsyncHttpConsumer stops once handle() returns; a stream stays open until the client leaves.
        if "body" in message:
            self.body.append(message["body"])
        if not message.get("more_body"):
            await self.handle(b"".join(self.body))
            if getattr(self, "cursor", None) is None:  # answered without a stream (400, 404, 405)
                await self.disconnect()
                raise StopConsumer()

    async def disconnect(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        if getattr(self, "cursor", None) is not None:
            await self.delivery_stop()
        if self._stream_id is not None:
            owner_key, client_ip = self._limits_key
            with contextlib.suppress(Exception):  # the entry expires on its own (SSE_STREAM_TTL_S)
                await database_sync_to_async(stream_close)(self._stream_id, owner_key=owner_key, client_ip=client_ip)
            self._stream_id = None

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(settings.SSE_HEARTBEAT_S)
            await self.send_body(b": heartbeat\n\n", more_body=True)
            owner_key, client_ip = self._limits_key
            with contextlib.suppress(Exception):
                await database_sync_to_async(stream_refresh)(self._stream_id, owner_key=owner_key,
                                                             client_ip=client_ip)

    async def frame_send(self, frame: dict) -> None:
        lines = []
        if "seq" in frame:
            lines.append(f"id: {frame['seq']}")
        lines.append(f"event: {frame['event']}")
        lines.append("data: " + json.dumps(frame, ensure_ascii=False))  # the same frame as on the WebSocket
        await self.send_body(("\n".join(lines) + "\n\n").encode("utf-8"), more_body=True)
