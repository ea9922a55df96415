"""The floor: the cheapest round trips the stack can make, served by the SAME daphne, Redis and worker, along the
app's own delivery path.

Nothing here is imported by the application. `bench.run` starts daphne with `bench.floor_asgi:application`
(the app's own ASGI application plus the route below) and the Celery worker with `-I bench.floor_app`
(the app's own worker plus the task below). On /ws/bench/floor/ a text frame

    "e:<token>"  is echoed at once                      -> floor_echo: daphne + WebSocket only
    "c:<token>"  is enqueued as bench.floor.echo; the    -> floor_celery: daphne -> Redis broker -> worker
                 worker hands it to the APP's broadcaster    -> the app's broadcaster (its long-lived loop and
                 (the function every committed event         connection pool) -> channel layer -> daphne ->
                 goes through), to the app's group of a      WebSocket: one Celery hop and one broadcast, the
                 conversation id this socket joined          least any event of the app costs

The broadcaster is found by name (APP_BROADCASTERS: the modules where the app has kept it), so the floor follows
the app when its packages move; if none is found the floor says so in its `method` and uses a stand-in with the
same design (one long-lived loop per process), never `async_to_sync` per call.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import threading
import uuid
from collections.abc import Callable

from asgiref.sync import sync_to_async
from celery import shared_task
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer

FLOOR_PATH = "/ws/bench/floor/"
TASK_NAME = "bench.floor.echo"
FLOOR_EVENT = "bench_floor"

# (module, broadcast function, group-name function): the app's "send this committed frame to a conversation".
APP_BROADCASTERS = (
    ("conversations.events", "event_broadcast", "conversation_group"),
    ("conversations.delivery", "event_broadcast", "conversation_group"),
    ("chat.events", "event_broadcast", "conversation_group"),
)


def app_broadcaster() -> tuple[Callable | None, Callable | None, str]:
    """(broadcast(conversation_id, frame), group(conversation_id), where) of the app, or (None, None, why)."""
    for module_name, send_name, group_name in APP_BROADCASTERS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        send, group = getattr(module, send_name, None), getattr(module, group_name, None)
        if callable(send) and callable(group):
            return send, group, f"{module_name}.{send_name}"
    return None, None, "not found in " + ", ".join(m for m, _, _ in APP_BROADCASTERS)


class _StandIn:
    """Only when the app's broadcaster cannot be found: the same design (a long-lived loop per process)."""

    def __init__(self) -> None:
        self._pid = None
        self._loop = None
        self._lock = threading.Lock()

    def send(self, group: str, message: dict) -> None:
        with self._lock:
            if self._pid != os.getpid():
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, daemon=True).start()
                self._pid = os.getpid()
        asyncio.run_coroutine_threadsafe(get_channel_layer().group_send(group, message), self._loop)


_stand_in = _StandIn()


def floor_frame(token: str) -> dict:
    return {"event": FLOOR_EVENT, "data": {"token": token}, "message_id": None, "seq": 0}


@shared_task(name=TASK_NAME, ignore_result=True)
def floor_echo_task(conversation_id: str, token: str) -> None:
    send, _, _ = app_broadcaster()
    if send is not None:
        send(uuid.UUID(conversation_id), floor_frame(token))
    else:
        _stand_in.send(f"conversation.{uuid.UUID(conversation_id).hex}",
                       {"type": "conversation.event", "frame": floor_frame(token)})


def _tokens(value) -> list[str]:
    """Every floor token in a channel-layer message, whatever shape the app gives its messages."""
    found: list[str] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("event") == FLOOR_EVENT and isinstance(node.get("data"), dict):
                found.append(str(node["data"].get("token")))
            else:
                stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)
    return found


class FloorConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.conversation_id = uuid.uuid4()
        _, group, _ = app_broadcaster()
        self.group = group(self.conversation_id) if group else f"conversation.{self.conversation_id.hex}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def dispatch(self, message: dict) -> None:
        if str(message.get("type", "")).startswith("websocket."):
            return await super().dispatch(message)
        for token in _tokens(message):  # the app's layer message, whatever its type
            await self.send(text_data=token)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not text_data:
            return
        if text_data.startswith("e:"):
            await self.send(text_data=text_data)
        elif text_data.startswith("c:"):
            # Like message_create's delay_on_commit: enqueue from a sync thread.
            await sync_to_async(floor_echo_task.delay)(str(self.conversation_id), text_data)
