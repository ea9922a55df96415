"""ASGI entry point: HTTP through Django (SSE through Channels), WebSockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from chat.routing import http_urlpatterns, websocket_urlpatterns  # noqa: E402
from config.websocket import ExactOriginValidator, SendBufferGuard  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": URLRouter(
            [
                *http_urlpatterns,
                re_path(r"", django_asgi_app),
            ]
        ),
        # The guard outermost: it must see every frame the consumer sends.
        "websocket": SendBufferGuard(ExactOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))),
    }
)
