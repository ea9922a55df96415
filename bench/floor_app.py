"""The floor: the cheapest round trips the stack can make, served by the SAME daphne, Redis and worker.

Nothing here is imported by the application. `bench.run` starts daphne with `bench.floor_asgi:application`
(the app's own ASGI application plus the route below) and the Celery worker with `-I bench.floor_app`
(the app's own worker plus the task below). On /ws/bench/floor/ a text frame

    "e:<token>"  is echoed at once                      -> floor_echo: daphne + WebSocket only
    "c:<token>"  is enqueued as bench.floor.echo, whose  -> floor_celery: daphne -> Redis broker -> worker
                 worker sends it back through the           -> group_send (channel layer, Redis) -> daphne
                 channel layer exactly as the app's          -> WebSocket; one Celery hop and one broadcast,
                 event_broadcast does                        which is what every app event pays at least
"""

from __future__ import annotations

import uuid

from asgiref.sync import async_to_sync, sync_to_async
from celery import shared_task
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer

FLOOR_PATH = "/ws/bench/floor/"
TASK_NAME = "bench.floor.echo"


@shared_task(name=TASK_NAME, ignore_result=True)
def floor_echo_task(group: str, token: str) -> None:
    # The same call as conversations.events.event_broadcast: a fresh loop per call via async_to_sync.
    async_to_sync(get_channel_layer().group_send)(group, {"type": "floor.event", "token": token})


class FloorConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.group = f"bench-floor.{uuid.uuid4().hex}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not text_data:
            return
        if text_data.startswith("e:"):
            await self.send(text_data=text_data)
        elif text_data.startswith("c:"):
            # Like message_create's delay_on_commit: enqueue from a sync thread.
            await sync_to_async(floor_echo_task.delay)(self.group, text_data)

    async def floor_event(self, event: dict) -> None:
        await self.send(text_data=event["token"])
