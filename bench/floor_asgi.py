"""The application's own ASGI app, plus the floor route of bench.floor_app (for daphne started by bench.run)."""

from config.asgi import application as app_application

from .floor_app import FLOOR_PATH, FloorConsumer

_floor = FloorConsumer.as_asgi()


async def application(scope, receive, send):
    if scope["type"] == "websocket" and scope.get("path") == FLOOR_PATH:
        return await _floor(scope, receive, send)
    return await app_application(scope, receive, send)
