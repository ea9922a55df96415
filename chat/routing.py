from channels.auth import AuthMiddlewareStack
from django.urls import path

from .consumers import ChatConsumer, ConversationEventStream

websocket_urlpatterns = [
    path("ws/chat/<str:conversation_id>/", ChatConsumer.as_asgi()),
]

# HTTP routes served by Channels consumers (everything else goes to Django).
http_urlpatterns = [
    path("api/conversations/<str:conversation_id>/events", AuthMiddlewareStack(ConversationEventStream.as_asgi())),
]
