"""ASGI guards in front of the chat WebSocket: an exact Origin check, and a cap on unsent output.

Origin: a browser's socket may open only from this site's own origin (scheme, host *and* port) or from one
listed in CSRF_TRUSTED_ORIGINS. The site's origin is the Host header (validated against ALLOWED_HOSTS; nginx
passes the browser's Host with its port) with https when X-Forwarded-Proto says so, else http. A page on
another port or scheme of the same host is another origin, and is refused.

Send buffer: daphne writes each outgoing frame into the TCP transport, which buffers in memory whatever the
kernel cannot take because the client is not reading. Past CHAT_SOCKET_SEND_BUFFER_MAX_BYTES the socket is
closed with code 4008 (send buffer full) and, if the close frame cannot get out either, aborted after a short
grace, so that memory is freed. daphne hands the application `send = partial(server.handle_reply, protocol)`;
the protocol's transport is where the buffer lives. Under another server the guard does nothing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

logger = logging.getLogger(__name__)

SEND_BUFFER_FULL = 4008
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_tuple(origin: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def site_origin(scope: dict) -> tuple[str, str, int] | None:
    """This site's origin as the request names it, if its Host is an allowed one."""
    host = _header(scope, b"host")
    if not host:
        return None
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    proto = (_header(scope, b"x-forwarded-proto") or "").split(",")[0].strip().lower()
    scheme = "https" if proto == "https" else "http"
    return _origin_tuple(f"{scheme}://{host}")


def origin_allowed(scope: dict) -> bool:
    origin = _header(scope, b"origin")
    if origin is None:
        return False
    given = _origin_tuple(origin)
    if given is None:
        return False
    trusted = {_origin_tuple(o) for o in settings.CSRF_TRUSTED_ORIGINS} - {None}
    return given == site_origin(scope) or given in trusted


class ExactOriginValidator:
    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


def _pending_bytes(transport) -> int:
    """Bytes a Twisted TCP transport holds because the kernel would not take them yet."""
    buffered = getattr(transport, "dataBuffer", b"")
    return len(buffered) - getattr(transport, "offset", 0) + getattr(transport, "_tempDataLen", 0)


class SendBufferGuard:
    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        protocol = send.args[0] if isinstance(send, functools.partial) and send.args else None
        transport = getattr(protocol, "transport", None)
        if scope["type"] != "websocket" or transport is None:
            return await self.application(scope, receive, send)
        limit = settings.CHAT_SOCKET_SEND_BUFFER_MAX_BYTES
        closed = False

        async def guarded_send(message: dict) -> None:
            nonlocal closed
            if closed:
                return  # the socket is being closed: nothing more is buffered for it
            await send(message)
            if message.get("type") == "websocket.send" and _pending_bytes(transport) > limit:
                closed = True
                logger.warning("closing WebSocket %s: %d bytes unsent (client not reading)",
                               scope.get("client"), _pending_bytes(transport))
                await send({"type": "websocket.close", "code": SEND_BUFFER_FULL})
                asyncio.get_running_loop().call_later(2.0, transport.abortConnection)

        return await self.application(scope, receive, guarded_send)
