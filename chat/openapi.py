"""The OpenAPI document says what the API does: every status an operation can answer, with its body.

drf-spectacular documents the success responses; `ErrorDocumentingAutoSchema` adds the errors that the views,
DRF and django-filter produce (400 for a bad query or body, 415 for a body that is not JSON, 403 for a failed
CSRF check or a missing permission, 404 for a resource the caller may not see, 429 when throttled), and
`schema_add_event_stream` describes the SSE stream that Channels serves beside the API.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework.permissions import AllowAny

from conversations import contracts

ERROR_COMPONENT = "Error"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "`detail` for a refused request (403, 404, 405, 429, a malformed body); for invalid input (400), each "
        "offending field or query parameter with its messages."
    ),
    "additionalProperties": {
        "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
    },
}
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}},
    }


def _is_restricted(view) -> bool:
    return getattr(view, "staff_only", False) or any(not isinstance(p, AllowAny) for p in view.get_permissions())


class ErrorDocumentingAutoSchema(AutoSchema):
    def get_auth(self) -> list[dict[str, list]]:
        auth = super().get_auth()
        # Anybody may call the owner operations: a caller without a session gets one (and so an identity) here.
        if auth and not _is_restricted(self.view) and {} not in auth:
            auth.append({})
        return auth

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        method = self.method.upper()
        has_query = bool(self._get_filter_parameters() or self._get_pagination_parameters())
        for code, response in responses.items():
            if code.startswith("4") and "content" not in response:  # a view's own error, described in words only
                response["content"] = _error("")["content"]
        if method in _UNSAFE or has_query:
            responses.setdefault("400", _error("invalid query parameters or body"))
        if method in _UNSAFE:
            responses.setdefault("415", _error("the body is not JSON (Content-Type: application/json)"))
        if method in _UNSAFE or _is_restricted(self.view):
            responses.setdefault("403", _error("CSRF check failed, or the caller lacks the permission"))
        if "{" in self.path:
            responses.setdefault("404", _error("no such resource for the caller"))
        if self.view.get_throttles():
            responses.setdefault("429", _error("too many requests; retry after the Retry-After header's seconds"))
        return responses


def _event_stream_item_schema() -> dict[str, Any]:
    """One event of the stream as a client parses it (OpenAPI 3.0: the media type's schema describes an event)."""
    names = sorted({*contracts.DATA_SCHEMAS, contracts.SNAPSHOT})
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"type": "string", "enum": names},
            "data": {
                "type": "string",
                "description": "JSON text of the frame: `{event, data, message_id, seq}`, or for `snapshot` "
                "`{event, data, last_seq}`; the data shapes are seed 002's (conversations/contracts.py)",
            },
            "id": {"type": "string", "pattern": "^[0-9]+$", "description": "the event's per-conversation seq"},
            "retry": {"type": "integer", "minimum": 0},
        },
    }


def _blank_alternatives_any_of(node: Any) -> None:
    """drf-spectacular writes a blank-allowed string with a pattern as `oneOf: [{pattern…}, {maxLength: 0}]`,
    but "" matches both branches when the pattern admits it, and `oneOf` then refuses it: `anyOf` says it."""
    if isinstance(node, dict):
        alternatives = node.get("oneOf")
        if isinstance(alternatives, list) and {"type": "string", "maxLength": 0} in alternatives:
            node["anyOf"] = node.pop("oneOf")
        for value in node.values():
            _blank_alternatives_any_of(value)
    elif isinstance(node, list):
        for value in node:
            _blank_alternatives_any_of(value)


def schema_add_event_stream(result, generator, request, public):
    """drf-spectacular postprocessing hook: the error component, blank strings, and the SSE stream."""
    _blank_alternatives_any_of(result)
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    result.setdefault("paths", {})["/api/conversations/{conversation_id}/events"] = {
        "get": {
            "operationId": "conversation_events_stream",
            "summary": "Server-Sent Events of a conversation (served by Channels)",
            "description": (
                "A `text/event-stream` of the conversation's events in `seq` order: `id: <seq>`, "
                "`event: <name>`, `data: {\"event\", \"data\", \"message_id\", \"seq\"}` (the same frames as the "
                "WebSocket `/ws/chat/{conversation_id}/`). Resume with `Last-Event-ID` or `?after=<seq>`: a "
                "`snapshot` frame, then every stored event after that seq. Heartbeat comments keep it open. "
                "Owners only; 404 otherwise. Only GET is allowed (405 otherwise)."
            ),
            "tags": ["conversations"],
            "parameters": [
                {"name": "conversation_id", "in": "path", "required": True,
                 "schema": {"type": "string", "format": "uuid"}},
                {"name": "after", "in": "query", "required": False,
                 "schema": {"type": "integer", "minimum": 0, "maximum": contracts.SEQ_MAX},
                 "description": "replay events with a greater seq"},
                {"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"},
                 "description": "the browser's resume point (the last seq it saw); anything but digits is ignored"},
            ],
            "security": [{"cookieAuth": []}, {}],
            "responses": {
                "200": {"description": "the event stream",
                        "content": {"text/event-stream": {"schema": _event_stream_item_schema()}}},
                "400": _error("`after` is not a non-negative integer"),
                "404": _error("not the caller's conversation"),
            },
        }
    }
    return result
