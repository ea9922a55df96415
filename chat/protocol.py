"""Parsing of client WebSocket frames. Every failure is a FrameError with a code the client shows."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.conf import settings

from conversations import contracts


class FrameError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class ClientFrame:
    type: str
    message: str = ""
    message_id: int | None = None
    after: int = 0
    hscode: str = ""
    vote: str | None = None
    reason: str = ""


def _non_negative_int(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise FrameError("invalid_frame", f"{field}는 0 이상의 정수여야 합니다.")
    return value


def _depth_exceeds(value: object, limit: int) -> bool:
    """Iterative depth check, so hostile nesting cannot exhaust the stack here either."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return False


def message_text_validate(text: object) -> str:
    """The rules for a chat message's text, shared by the socket and the REST API."""
    if not isinstance(text, str):
        raise FrameError("invalid_message", "메시지는 문자열이어야 합니다.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise FrameError("invalid_encoding", "메시지에 저장할 수 없는 문자(짝이 없는 서로게이트)가 있습니다.") from None
    if "\x00" in text:
        raise FrameError("invalid_encoding", "메시지에 NUL 문자를 넣을 수 없습니다.")
    stripped = text.strip()
    if not stripped:
        raise FrameError("empty_message", "빈 메시지는 보낼 수 없습니다.")
    limit = settings.CHAT_MESSAGE_MAX_CHARS
    if len(stripped) > limit:
        raise FrameError("message_too_long", f"메시지는 {limit:,}자 이하여야 합니다 (현재 {len(stripped):,}자).")
    return stripped


def feedback_reason_validate(reason: object) -> str:
    """The rules for a vote's optional reason, shared by the socket and the REST API: trimmed, "" when none."""
    if reason is None:
        return ""
    if not isinstance(reason, str):
        raise FrameError("invalid_reason", "평가 이유는 문자열이어야 합니다.")
    try:
        reason.encode("utf-8")
    except UnicodeEncodeError:
        raise FrameError("invalid_encoding",
                         "평가 이유에 저장할 수 없는 문자(짝이 없는 서로게이트)가 있습니다.") from None
    if "\x00" in reason:
        raise FrameError("invalid_encoding", "평가 이유에 NUL 문자를 넣을 수 없습니다.")
    stripped = reason.strip()
    limit = contracts.FEEDBACK_REASON_MAX_CHARS
    if len(stripped) > limit:
        raise FrameError("reason_too_long", f"평가 이유는 {limit:,}자 이하여야 합니다 (현재 {len(stripped):,}자).")
    return stripped


def _feedback_frame(payload: dict) -> ClientFrame:
    if "vote" not in payload or payload["vote"] not in (*contracts.FEEDBACK_VOTES, None):
        raise FrameError("invalid_vote", 'vote는 "up", "down" 또는 null(평가 취소)이어야 합니다.')
    vote = payload["vote"]
    reason = feedback_reason_validate(payload.get("reason"))
    if vote is None and reason:
        raise FrameError("invalid_frame", "평가를 취소할 때는 이유를 보낼 수 없습니다.")
    return ClientFrame(type=contracts.CLIENT_ANSWER_FEEDBACK,
                       message_id=_non_negative_int(payload.get("message_id"), "message_id"), vote=vote, reason=reason)


def frame_parse(text_data: str | None, bytes_data: bytes | None = None) -> ClientFrame:
    if text_data is None:
        raise FrameError("binary_not_supported", "바이너리 프레임은 지원하지 않습니다. JSON 텍스트를 보내 주세요.")
    if len(text_data.encode("utf-8", "surrogatepass")) > settings.CHAT_FRAME_MAX_BYTES:
        raise FrameError("frame_too_large", f"프레임은 {settings.CHAT_FRAME_MAX_BYTES:,}바이트 이하여야 합니다.")
    try:
        payload = json.loads(text_data)
    except RecursionError:
        raise FrameError("frame_too_deep", "JSON 중첩이 너무 깊습니다.") from None
    except ValueError:
        raise FrameError("invalid_json", "프레임이 올바른 JSON이 아닙니다.") from None
    if _depth_exceeds(payload, settings.CHAT_JSON_MAX_DEPTH):
        raise FrameError("frame_too_deep", "JSON 중첩이 너무 깊습니다.")
    if not isinstance(payload, dict):
        raise FrameError("invalid_frame", '프레임은 {"type": ...} 형태의 JSON 객체여야 합니다.')
    frame_type = payload.get("type")
    if frame_type not in contracts.CLIENT_FRAME_TYPES:
        shown = frame_type if isinstance(frame_type, str) and frame_type.isprintable() else "?"
        raise FrameError("unknown_type", f"알 수 없는 프레임 유형입니다: {shown[:40]}")
    if frame_type == contracts.CLIENT_CHAT_STOP:
        message_id = payload.get("message_id")
        return ClientFrame(type=frame_type, message_id=None if message_id is None else _non_negative_int(
            message_id, "message_id"))
    if frame_type == contracts.CLIENT_CODE_CHOOSE:
        hscode = payload.get("hscode")
        if not isinstance(hscode, str) or not 0 < len(hscode) <= 32 or not hscode.isprintable():
            raise FrameError("invalid_frame", "hscode는 후보 코드 문자열이어야 합니다 (예: 0203.29).")
        return ClientFrame(type=frame_type, message_id=_non_negative_int(payload.get("message_id"), "message_id"),
                           hscode=hscode)
    if frame_type == contracts.CLIENT_BOOKMARK_SAVE:
        return ClientFrame(type=frame_type, message_id=_non_negative_int(payload.get("message_id"), "message_id"))
    if frame_type == contracts.CLIENT_ANSWER_FEEDBACK:
        return _feedback_frame(payload)
    if frame_type == contracts.CLIENT_RESYNC:
        return ClientFrame(type=frame_type, after=_non_negative_int(payload.get("after", 0), "after"))
    return ClientFrame(type=frame_type, message=message_text_validate(payload.get("message")))
