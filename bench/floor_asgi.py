"""The application's own ASGI app, plus what the bench needs in daphne (for daphne started by bench.run only):

* the floor route of bench.floor_app (/ws/bench/floor/);
* a delivery tap that tells frames the channel layer brought from frames the app read back from its event log
  (back-fills), served as JSON on GET /__bench__/delivery. The app's delivery fills a seq gap, or a lost last
  event, from the database, so a client sees every frame either way and "0 lost" alone proves nothing about the
  broadcast path.

How the tap counts, without touching application code: it wraps the channel layer's `group_add` (which channel
joined which conversation's group: the 32-hex conversation id in the group name) and `receive` (every frame with
a `seq` a channel received: any dict with "event" and an int "seq" inside the layer message, whatever shape the
app gives its messages), and the ASGI `send` of each chat WebSocket (/ws/chat/<id>/) and SSE stream
(/api/conversations/<id>/events). A frame sent to a client whose seq had arrived through the layer for that
conversation is "live"; any other is a back-fill. On a connection opened with ?after= or Last-Event-ID the frames
sent before the first live one are counted as "replayed" (the resume the client asked for), not as back-fills.
"""

from __future__ import annotations

import collections
import json
import re

from channels.layers import get_channel_layer

from config.asgi import application as app_application

from .floor_app import FLOOR_PATH, FloorConsumer

_floor = FloorConsumer.as_asgi()

STATS_PATH = "/__bench__/delivery"
_HEX = re.compile(r"([0-9a-f]{32})")
_CONVERSATION_PATH = re.compile(r"^/(?:ws/chat|api/conversations)/([0-9a-fA-F-]{32,36})/")
_SSE_ID = re.compile(rb"^id: (\d+)$", re.MULTILINE)
_TRAILING_SEQ = re.compile(r'"seq": ?(\d+)\}\s*$')  # json.dumps of the app's frames ends with the seq


class DeliveryTap:
    def __init__(self) -> None:
        self.channel_conversation: dict[str, str] = {}
        self.layer_seqs: dict[str, set[int]] = collections.defaultdict(set)
        self.open_connections: collections.Counter = collections.Counter()
        self.counts: collections.Counter = collections.Counter()
        self.installed = False

    def install(self) -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        group_add, receive = layer.group_add, layer.receive

        async def tapped_group_add(group: str, channel: str):
            match = _HEX.search(group.replace("-", ""))
            if match:
                self.channel_conversation[channel] = match.group(1)
            return await group_add(group, channel)

        async def tapped_receive(channel: str):
            message = await receive(channel)
            conversation = self.channel_conversation.get(channel)
            if conversation is not None:
                seqs = _frame_seqs(message)
                if seqs:
                    self.counts["layer_frames"] += len(seqs)
                    self.layer_seqs[conversation].update(seqs)
            return message

        layer.group_add, layer.receive = tapped_group_add, tapped_receive
        self.installed = True

    def sent(self, conversation: str, seq: int, connection: dict) -> None:
        self.counts["frames_sent"] += 1
        if seq in self.layer_seqs.get(conversation, ()):
            self.counts["live"] += 1
            connection["replaying"] = False
        elif connection.get("replaying"):
            self.counts["replayed"] += 1
        else:
            self.counts["backfilled"] += 1

    def opened(self, conversation: str) -> None:
        self.open_connections[conversation] += 1
        self.counts["connections"] += 1

    def closed(self, conversation: str) -> None:
        self.open_connections[conversation] -= 1
        if self.open_connections[conversation] <= 0:
            del self.open_connections[conversation]
            self.layer_seqs.pop(conversation, None)

    def stats(self) -> dict:
        return {"installed": self.installed, **{k: self.counts[k] for k in
                ("frames_sent", "live", "backfilled", "replayed", "layer_frames", "connections")}}


def _frame_seqs(message) -> list[int]:
    found, stack = [], [message]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("seq"), int) and "event" in node:
                found.append(node["seq"])
            else:
                stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)
    return found


tap = DeliveryTap()
tap.install()


def _conversation_of(scope) -> str | None:
    match = _CONVERSATION_PATH.match(scope.get("path") or "")
    return match.group(1).replace("-", "").lower() if match else None


def _resumed(scope) -> bool:
    query = (scope.get("query_string") or b"").decode("latin-1")
    if re.search(r"(^|&)after=\d", query):
        return True
    return any(name == b"last-event-id" and value.strip().isdigit() for name, value in scope.get("headers") or [])


async def _stats(send) -> None:
    body = json.dumps(tap.stats()).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def application(scope, receive, send):
    if scope["type"] == "websocket" and scope.get("path") == FLOOR_PATH:
        return await _floor(scope, receive, send)
    if scope["type"] == "http" and scope.get("path") == STATS_PATH:
        return await _stats(send)
    conversation = _conversation_of(scope) if scope["type"] in ("websocket", "http") else None
    if conversation is None or (scope["type"] == "http" and not scope["path"].endswith("/events")):
        return await app_application(scope, receive, send)
    connection = {"replaying": _resumed(scope)}
    tap.opened(conversation)

    async def tapped_send(message):
        kind = message.get("type")
        if kind == "websocket.send" and message.get("text"):
            text = message["text"]
            if '"seq"' in text:
                match = _TRAILING_SEQ.search(text)
                if match:
                    seq = int(match.group(1))
                else:
                    try:
                        seq = json.loads(text).get("seq")
                    except ValueError:
                        seq = None
                if isinstance(seq, int):
                    tap.sent(conversation, seq, connection)
        elif kind == "http.response.body" and message.get("body"):
            for match in _SSE_ID.finditer(message["body"]):
                tap.sent(conversation, int(match.group(1)), connection)
        return await send(message)

    try:
        return await app_application(scope, receive, tapped_send)
    finally:
        tap.closed(conversation)
