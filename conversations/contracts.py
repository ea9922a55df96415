"""The wire contract: event names, the shape of every event's `data`, and frame builders.

Names and `data` fields follow seed 002 exactly; tests/conversations/test_contracts.py
validates these schemas against the seed's own examples and every builder's
output against the schemas. Extend, never break.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

MESSAGE_CREATED = "message_created"  # our extension: a person's message was saved
THINKING = "thinking"
BUTTONS_START = "detail_page_buttons_start"
BUTTON_READY = "detail_page_button_ready"
BUTTONS_COMPLETE = "detail_page_buttons_complete"
BUTTONS_ERROR = "detail_page_buttons_error"
ANSWER_DELTA = "answer_delta"
ANSWER_COMPLETE = "answer_complete"
BOOKMARK_SAVED = "bookmark_saved"  # our extension: the person saved a message's sse_bookmark_data as 관심 품목
# Our extension: the owner's 👍/👎 on an answer was stored, changed or withdrawn (vote null).
ANSWER_FEEDBACK = "answer_feedback"
ERROR = "error"  # a rejected client frame; never stored, carries no seq
SNAPSHOT = "snapshot"
# Our extension: a replay stopped at CHAT_REPLAY_MAX_EVENTS; resync with `after` for the next page. No seq.
REPLAY_MORE = "replay_more"

HS_CODE, REGULATION, STATISTICS = "HS_CODE", "REGULATION", "STATISTICS"
BUTTON_TYPES = (HS_CODE, REGULATION, STATISTICS)
# Below the confidence threshold, at most this many candidate codes are offered as HS_CODE buttons.
CANDIDATES_MAX = 3

# The largest resume point a client may ask for (`?after=`, `Last-Event-ID`, `resync`): 18 digits.
SEQ_MAX = 10**18 - 1

# Client → server frame types.
CLIENT_CHAT_MESSAGE = "chat.message"  # {"type": "chat.message", "message": "<text>"}
CLIENT_CHAT_STOP = "chat.stop"  # {"type": "chat.stop", "message_id"?: <id>} stops answer generation
CLIENT_RESYNC = "resync"  # {"type": "resync", "after"?: <seq>} replays from after (default 0)
# {"type": "hscode.choose", "message_id": <id>, "hscode": "0203.29"}: the person picks one of its candidates.
CLIENT_CODE_CHOOSE = "hscode.choose"
# {"type": "bookmark.save", "message_id": <id>}: save the message's sse_bookmark_data as 관심 품목.
CLIENT_BOOKMARK_SAVE = "bookmark.save"
# {"type": "answer.feedback", "message_id": <assistant message id>, "vote": "up" | "down" | null, "reason"?: "..."}:
# the owner's vote on an answer (null withdraws it), with an optional reason.
CLIENT_ANSWER_FEEDBACK = "answer.feedback"
CLIENT_FRAME_TYPES = (CLIENT_CHAT_MESSAGE, CLIENT_CHAT_STOP, CLIENT_RESYNC, CLIENT_CODE_CHOOSE, CLIENT_BOOKMARK_SAVE,
                      CLIENT_ANSWER_FEEDBACK)

FEEDBACK_VOTES = ("up", "down")
# The longest reason a vote may carry (characters, after trimming).
FEEDBACK_REASON_MAX_CHARS = 500

NO_HSCODE_DETECTED = "NO_HSCODE_DETECTED"


@dataclass(slots=True)
class HscodeAnalysisRecord:
    """The stored ChatMessage.hscode_analysis, typed: seed 002's fields first, then the pipeline's own.

    `parse` reads a stored value (None for a message not analysed yet; keys a row written by an older version lacks
    take their defaults) and `serialize` writes it back, keys this class does not name kept as they were (`extra`).
    """

    detected_hscode: str | None = None
    product_name: str = ""
    classification_confidence: float = 0.0
    intent_detection: dict[str, Any] = field(default_factory=dict)
    detail_buttons: list[dict[str, Any]] = field(default_factory=list)
    processing_metadata: dict[str, Any] = field(default_factory=dict)
    analysis_source: str = ""
    language: str = ""
    # {"code": "020329", "display": "0203.29", "national": "", "level": 6}: the code that drives the buttons.
    resolved: dict[str, Any] | None = None
    hscode_candidates: list[dict[str, Any]] = field(default_factory=list)
    invalid_codes: list[dict[str, Any]] = field(default_factory=list)
    needs_detail: list[str] = field(default_factory=list)
    button_order: list[str] = field(default_factory=list)
    fallback_used: bool = False
    cache_hit: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: dict[str, Any] | None) -> HscodeAnalysisRecord | None:
        if raw is None:
            return None
        named = {f.name for f in fields(cls)} - {"extra"}
        record = cls(**{key: value for key, value in raw.items() if key in named})
        record.extra = {key: value for key, value in raw.items() if key not in named}
        return record

    def serialize(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        data.update(self.extra)
        return data

    @property
    def resolved_code(self) -> str | None:
        """The resolved code's digits (6 for HS, up to 10 for a national line), or None when nothing resolved."""
        return self.resolved["code"] if self.resolved else None


def client_contract() -> dict[str, Any]:
    """What the page script needs to speak this contract: event names, button types, client frame types."""
    return {
        "events": {
            "messageCreated": MESSAGE_CREATED, "thinking": THINKING, "buttonsStart": BUTTONS_START,
            "buttonReady": BUTTON_READY, "buttonsComplete": BUTTONS_COMPLETE, "buttonsError": BUTTONS_ERROR,
            "answerDelta": ANSWER_DELTA, "answerComplete": ANSWER_COMPLETE, "error": ERROR, "snapshot": SNAPSHOT,
            "bookmarkSaved": BOOKMARK_SAVED, "replayMore": REPLAY_MORE, "answerFeedback": ANSWER_FEEDBACK,
        },
        "buttonTypes": list(BUTTON_TYPES),
        "noHscode": NO_HSCODE_DETECTED,
        "frames": {"message": CLIENT_CHAT_MESSAGE, "stop": CLIENT_CHAT_STOP, "resync": CLIENT_RESYNC,
                   "choose": CLIENT_CODE_CHOOSE, "bookmark": CLIENT_BOOKMARK_SAVE, "feedback": CLIENT_ANSWER_FEEDBACK},
        "feedbackVotes": list(FEEDBACK_VOTES),
        "feedbackReasonMax": FEEDBACK_REASON_MAX_CHARS,
    }


def now_iso() -> str:
    """UTC timestamp in the seeds' form: 2024-01-15T10:30:00.123Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def server_frame(event: str, data: dict[str, Any], message_id: int | None, seq: int) -> dict[str, Any]:
    return {"event": event, "data": data, "message_id": message_id, "seq": seq}


def error_frame(code: str, message: str) -> dict[str, Any]:
    return {"event": ERROR, "data": {"code": code, "message": message}}


# --- data builders -----------------------------------------------------------------


def message_created_data(*, role: str, content: str, created_at: str) -> dict[str, Any]:
    return {"role": role, "content": content, "created_at": created_at}


def bookmark_offer(sse_bookmark_data: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the page needs to offer the 관심 품목 action, from a message's seed 002 sse_bookmark_data."""
    if not sse_bookmark_data or not sse_bookmark_data.get("bookmark_available"):
        return None
    return {key: sse_bookmark_data[key] for key in ("bookmark_type", "target_value", "display_name")}


def bookmark_saved_data(*, bookmark_type: str, target_value: str, display_name: str) -> dict[str, Any]:
    return {"bookmark_type": bookmark_type, "target_value": target_value, "display_name": display_name,
            "timestamp": now_iso()}


def answer_feedback_data(*, assistant_message_id: int, vote: str | None, reason: str) -> dict[str, Any]:
    """The owner's current vote on an answer (None: withdrawn) and its reason ("" when none)."""
    return {"assistant_message_id": assistant_message_id, "vote": vote, "reason": reason if vote else "",
            "timestamp": now_iso()}


def thinking_data(*, session_uuid: str, user_id: int | None, content: str, progress: int = 15) -> dict[str, Any]:
    return {
        "stage": "parallel_processing_start",
        "content": content,
        "progress": progress,
        "timestamp": now_iso(),
        "metadata": {"session_uuid": session_uuid, "user_id": user_id, "processing_stage": "initialization"},
    }


def buttons_start_data(
    *, estimated_ms: int, context7_enabled: bool, cache_checked: bool, fallback_available: bool = True
) -> dict[str, Any]:
    return {
        "type": "start",
        "buttonsCount": len(BUTTON_TYPES),
        "estimatedPreparationTime": estimated_ms,
        "timestamp": now_iso(),
        "processingInfo": {
            "context7_enabled": context7_enabled,
            "fallback_available": fallback_available,
            "cache_checked": cache_checked,
        },
    }


def buttons_complete_data(
    *,
    total_ms: int,
    candidates: list[dict[str, Any]] | None = None,
    follow_up: dict[str, list[str]] | None = None,
    chosen_by_person: bool = False,
    bookmark: dict[str, Any] | None = None,
    buttons_generated: int,
    hscode: str | None,
    confidence: float,
    analysis_source: str,
    fallback_used: bool,
    cache_hit: bool,
    context7_calls: int,
    context7_latency_ms: int,
    database_queries: int,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": "complete",
        "totalPreparationTime": total_ms,
        "buttonsGenerated": buttons_generated,
        "timestamp": now_iso(),
        "summary": {
            "hscode_detected": hscode,
            "confidence_score": round(confidence, 4),
            "analysis_source": analysis_source,
            "fallback_used": fallback_used,
            "cache_hit": cache_hit,
        },
        "performance": {
            "context7_calls": context7_calls,
            "context7_latency_ms": context7_latency_ms,
            "database_queries": database_queries,
            "total_processing_time": total_ms,
        },
    }
    if candidates:
        data["candidates"] = [
            {"hscode": c["hscode"], "confidence": round(float(c["confidence"]), 4)} for c in candidates
        ][:CANDIDATES_MAX]
    if follow_up:
        data["followUpByLanguage"] = {lang: list(texts) for lang, texts in follow_up.items()}
    if chosen_by_person:
        data["chosenBy"] = "person"
    if bookmark:
        data["bookmark"] = bookmark
    return data


def answer_delta_data(*, delta: str, index: int) -> dict[str, Any]:
    """One coalesced piece of the streamed answer; `index` counts the message's deltas from 0."""
    return {"delta": delta, "index": index}


def answer_complete_data(*, content: str, assistant_message_id: int, stopped: bool, replaced: bool, backend: str,
                         fallback: bool) -> dict[str, Any]:
    """The answer's final text (`replaced`: it differs from the deltas sent, and replaces them)."""
    return {
        "content": content,
        "timestamp": now_iso(),
        "assistant_message_id": assistant_message_id,
        "stopped": stopped,
        "replaced": replaced,
        "backend": backend,
        "fallback": fallback,
    }


def snapshot_message(*, message_id: int, content: str, status: str, analysis: HscodeAnalysisRecord | None,
                     answer_content: str | None, answer_status: str | None) -> dict[str, Any]:
    """One unfinished message in a snapshot: its state, its buttons so far, its answer so far."""
    return {
        "message_id": message_id,
        "content": content,
        "status": status,
        "detected_hscode": analysis.detected_hscode if analysis else None,
        "buttons": list(analysis.detail_buttons) if analysis else [],
        "answer": {"content": answer_content, "status": answer_status} if answer_status is not None else None,
    }


def snapshot_data(*, conversation_id: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {"conversation_id": conversation_id, "messages": messages}


def snapshot_frame(data: dict[str, Any], *, last_seq: int) -> dict[str, Any]:
    """The state a (re)connecting client starts from; the replay continues after `last_seq`. No seq of its own."""
    return {"event": SNAPSHOT, "data": data, "last_seq": last_seq}


def replay_more_frame(*, after: int, head: int) -> dict[str, Any]:
    return {"event": REPLAY_MORE, "data": {"after": after, "head": head}}


# --- detail_page_button_ready: the three buttons --------------------------------------


def stored_button(data: dict[str, Any]) -> dict[str, Any]:
    """A ready button as hscode_analysis.detail_buttons keeps it (what a snapshot and a reload show)."""
    stored = {"type": data["buttonType"], "url": data["url"], "title": data["title"], "priority": data["priority"],
              "generated_at": now_iso(), "description": data["description"]}
    meta = data["metadata"]
    if meta.get("candidate"):
        stored.update(candidate=True, hscode=meta["hscode"], confidence=meta["confidence"], nameKo=meta["nameKo"],
                      nameEn=meta["nameEn"])
    return stored


def hs_code_query(display: str, *, session_id: str, candidate: bool = False) -> dict[str, str]:
    return {"hscode": display, "source": "chat_candidate" if candidate else "chat_analysis", "session_id": session_id}


def regulation_query(display: str) -> dict[str, str]:
    return {"hscode": display, "country": "ALL"}


def statistics_query(display: str) -> dict[str, str]:
    return {"hscode": display, "period": "latest"}


@dataclass(frozen=True, slots=True)
class CandidateLabel:
    """A candidate code offered below the confidence threshold: its rank and names, and the page's language."""

    rank: int
    name_ko: str
    name_en: str
    language: str


def hs_code_button_data(*, display: str, url: str, confidence: float, source: str, category_info: dict[str, str],
                        session_id: str, priority: int, candidate: CandidateLabel | None = None) -> dict[str, Any]:
    """The HS_CODE button: the resolved code, or (with `candidate`) one candidate flagged as such."""
    title, description = "HS Code 상세정보", "관세율, 규제정보 등 상세 조회"
    metadata: dict[str, Any] = {
        "hscode": display,
        "country": "KR",
        "confidence": round(confidence, 4),
        "searchTime": now_iso(),
        "analysisSource": source,
        "categoryInfo": category_info,
    }
    if candidate is not None:
        english = candidate.language.startswith("en")
        percent = round(confidence * 100)
        title = f"{display} {candidate.name_en if english else candidate.name_ko}".strip()
        description = (f"candidate {candidate.rank}, confidence {percent}%" if english
                       else f"후보 {candidate.rank} · 신뢰도 {percent}%")
        metadata.update(candidate=True, candidateRank=candidate.rank, nameKo=candidate.name_ko,
                        nameEn=candidate.name_en)
    return {
        "type": "button",
        "buttonType": HS_CODE,
        "priority": priority,
        "url": url,
        "title": title,
        "description": description,
        "isReady": True,
        "metadata": metadata,
        "actionData": {
            "queryParams": hs_code_query(display, session_id=session_id, candidate=candidate is not None),
            "analytics": {"click_tracking": True, "conversion_target": "hscode_detail_view"},
        },
    }


def regulation_button_data(*, display: str, url: str, description: str, summary: dict[str, Any],
                           priority: int) -> dict[str, Any]:
    return {
        "type": "button",
        "buttonType": REGULATION,
        "priority": priority,
        "url": url,
        "title": "규제 정보 상세보기",
        "description": description,
        "isReady": True,
        "metadata": {"hscode": display, **summary},
        "actionData": {"queryParams": {**regulation_query(display), "regulation_type": "export"}},
    }


def statistics_button_data(*, display: str, url: str, description: str, availability: dict[str, Any],
                           priority: int) -> dict[str, Any]:
    return {
        "type": "button",
        "buttonType": STATISTICS,
        "priority": priority,
        "url": url,
        "title": "무역 통계 상세보기",
        "description": description,
        "isReady": True,
        "metadata": {"hscode": display, **availability},
        "actionData": {"queryParams": {**statistics_query(display), "view": "summary"}},
    }


def context7_error_data(*, error_code: str, error_message: str, timestamp: str, api_endpoint: str,
                        http_status: int | None, retry_after: int | None, retryable: bool, retry_hint_s: int,
                        max_retries: int, expected_recovery: str,
                        partial_results: dict[str, Any] | None = None) -> dict[str, Any]:
    """detail_page_buttons_error, seed 002 §1: Context7 failed; pattern matching takes over (a button follows)."""
    partial = {"buttonsGenerated": 0, "hscode_detected": None, "confidence_score": 0.0}
    partial.update(partial_results or {})
    return {
        "type": "context7_api_error",
        "errorCode": error_code,
        "errorMessage": error_message,
        "timestamp": timestamp,
        "fallbackActivated": True,
        "errorDetails": {"api_endpoint": api_endpoint, "http_status": http_status, "retry_after": retry_after},
        "fallback_status": {"activated": True, "fallback_type": "pattern_matching", "reduced_confidence": True},
        "impact_assessment": {
            "user_experience": "degraded",
            "feature_availability": "partial",
            "expected_recovery": expected_recovery,
        },
        "partialResults": partial,
        "retryInfo": {"retryable": retryable, "retryAfter": retry_hint_s, "maxRetries": max_retries},
    }


NO_HSCODE_SUGGESTIONS = (
    "구체적인 제품명을 포함해 주세요",
    "HSCode 번호를 직접 입력해 보세요",
    "제품의 용도나 재질을 명시해 주세요",
)

# What would settle an uncertain classification, phrased for the person.
DETAIL_SUGGESTIONS = {
    "product": "구체적인 제품명을 포함해 주세요",
    "material": "제품의 재질(예: 스테인리스강, 플라스틱, 면)을 알려 주세요",
    "use": "제품의 용도(예: 식용, 산업용, 가정용)를 알려 주세요",
    "processing": "가공 상태(예: 냉동, 건조, 조리됨)를 알려 주세요",
    "form": "제품의 형태(예: 분말, 액체, 완제품, 부품)를 알려 주세요",
}


PROCESSING_FAILED_MESSAGE = "상세페이지 버튼을 준비하지 못했습니다. 잠시 후 같은 질문을 다시 보내 주세요."
ANSWER_FAILED_MESSAGE = "답변을 만들지 못했습니다. 잠시 후 같은 질문을 다시 보내 주세요."


def processing_failed_error_data(*, buttons_generated: int, hscode_detected: str | None, confidence_score: float,
                                 max_retries: int) -> dict[str, Any]:
    """detail_page_buttons_error, seed 002 §7 (generic error): the step failed on every attempt; nothing follows."""
    return {
        "type": "error",
        "errorCode": "PROCESSING_FAILED",
        "errorMessage": PROCESSING_FAILED_MESSAGE,
        "timestamp": now_iso(),
        "fallbackActivated": False,
        "partialResults": {
            "buttonsGenerated": buttons_generated,
            "hscode_detected": hscode_detected,
            "confidence_score": confidence_score,
        },
        "retryInfo": {"retryable": False, "retryAfter": 0, "maxRetries": max_retries},
    }


def answer_failed_data(*, assistant_message_id: int) -> dict[str, Any]:
    """answer_complete for an answer that failed on every attempt: the error replaces any partial text."""
    return {
        "content": ANSWER_FAILED_MESSAGE,
        "timestamp": now_iso(),
        "assistant_message_id": assistant_message_id,
        "stopped": False,
        "replaced": True,
        "backend": "grounded",
        "fallback": False,
        "error": {"code": "ANSWER_FAILED", "message": ANSWER_FAILED_MESSAGE},
    }


def no_hscode_error_data(
    *,
    context7_attempted: bool,
    needs_detail: tuple[str, ...] | list[str] = (),
    invalid_codes: list[dict[str, Any]] | None = None,
    candidates: list[dict[str, Any]] | None = None,
    confidence: float = 0.0,
    suggestions_by_language: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """seed 002 error §2, with seed §7's `partialResults` (nothing was built; the best confidence reached).

    `suggestions` are the seed's (Korean); `suggestionsByLanguage` carries the advice fitted to this message (a
    how-to, or the question that would separate its weak candidates) in each page language.
    """
    suggestions = list(NO_HSCODE_SUGGESTIONS)
    for detail in needs_detail:
        text = DETAIL_SUGGESTIONS.get(detail)
        if text and text not in suggestions:
            suggestions.append(text)
    data: dict[str, Any] = {
        "type": "hscode_detection_failed",
        "errorCode": NO_HSCODE_DETECTED,
        "errorMessage": "메시지에서 HSCode 관련 정보를 찾을 수 없습니다",
        "timestamp": now_iso(),
        "analysis_attempted": {
            "context7_analysis": context7_attempted,
            "pattern_matching": True,
            "keyword_extraction": True,
        },
        "suggestions": suggestions,
        "fallback_options": {"general_trade_info": True, "manual_search_guide": True, "contact_support": True},
        "partialResults": {
            "buttonsGenerated": 0,
            "hscode_detected": None,
            "confidence_score": round(min(1.0, max(0.0, float(confidence))), 4),
        },
    }
    if suggestions_by_language:
        data["suggestionsByLanguage"] = {lang: list(texts) for lang, texts in suggestions_by_language.items()}
    if needs_detail:
        data["needsDetail"] = list(needs_detail)
    if invalid_codes:
        data["invalidCodes"] = invalid_codes
    if candidates:
        data["candidates"] = candidates
    return data


# --- JSON Schemas of `data`, per event --------------------------------------------

_TS = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"}
_INT = {"type": "integer", "minimum": 0}
_CONF = {"type": "number", "minimum": 0, "maximum": 1}
_BOOL = {"type": "boolean"}
_STR = {"type": "string"}


def _obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> dict[str, Any]:
    props = dict(required)
    props.update(optional or {})
    return {"type": "object", "required": list(required), "properties": props}


_PARTIAL_RESULTS = _obj(
    {"buttonsGenerated": _INT, "hscode_detected": {"type": ["string", "null"]}, "confidence_score": _CONF}
)
_BOOKMARK_OFFER = _obj({"bookmark_type": _STR, "target_value": _STR, "display_name": _STR})
_BY_LANGUAGE = {"type": "object", "additionalProperties": {"type": "array", "items": _STR}}

# Our extension of an HS_CODE button: below the confidence threshold it is one of up to three candidates.
_IS_CANDIDATE = {"properties": {"candidate": {"const": True}}, "required": ["candidate"]}
CANDIDATE_METADATA = _obj(
    {
        "candidate": {"const": True},
        "candidateRank": {"type": "integer", "minimum": 1, "maximum": 3},
        "confidence": _CONF,
        "nameKo": _STR,
        "nameEn": _STR,
    }
)
_BUTTON_COMMON = {
    "type": {"const": "button"},
    "buttonType": {"enum": list(BUTTON_TYPES)},
    "priority": {"type": "integer", "minimum": 1},
    "url": {"type": "string", "pattern": "^/"},
    "title": _STR,
    "description": _STR,
    "isReady": _BOOL,
    "metadata": {"type": "object", "required": ["hscode"]},
    "actionData": _obj({"queryParams": {"type": "object"}}),
}

DATA_SCHEMAS: dict[str, dict[str, Any]] = {
    MESSAGE_CREATED: _obj({"role": {"enum": ["user", "assistant"]}, "content": _STR, "created_at": _TS}),
    THINKING: _obj(
        {
            "stage": _STR,
            "content": _STR,
            "progress": {"type": "integer", "minimum": 0, "maximum": 100},
            "timestamp": _TS,
            "metadata": _obj(
                {"session_uuid": _STR, "user_id": {"type": ["integer", "null"]}, "processing_stage": _STR}
            ),
        }
    ),
    BUTTONS_START: _obj(
        {
            "type": {"const": "start"},
            "buttonsCount": _INT,
            "estimatedPreparationTime": _INT,
            "timestamp": _TS,
            "processingInfo": _obj({"context7_enabled": _BOOL, "fallback_available": _BOOL, "cache_checked": _BOOL}),
        }
    ),
    BUTTON_READY: {
        "allOf": [
            _obj(_BUTTON_COMMON),
            {
                "if": {"properties": {"metadata": _IS_CANDIDATE}},
                "then": {"properties": {"buttonType": {"const": "HS_CODE"}, "metadata": CANDIDATE_METADATA}},
            },
            {
                "if": {"properties": {"buttonType": {"const": "HS_CODE"}}},
                "then": {
                    "properties": {
                        "metadata": _obj(
                            {
                                "hscode": _STR,
                                "country": _STR,
                                "confidence": _CONF,
                                "searchTime": _TS,
                                "analysisSource": _STR,
                                "categoryInfo": _obj(
                                    {"chapter": _STR, "heading": _STR, "subheading": _STR, "description": _STR}
                                ),
                            }
                        ),
                        "actionData": _obj(
                            {"queryParams": _obj({"hscode": _STR, "source": _STR, "session_id": _STR})},
                            {"analytics": _obj({"click_tracking": _BOOL, "conversion_target": _STR})},
                        ),
                    }
                },
            },
            {
                "if": {"properties": {"buttonType": {"const": "REGULATION"}}},
                "then": {
                    "properties": {
                        "metadata": _obj(
                            {
                                "hscode": _STR,
                                "regulationTypes": {"type": "array", "items": _STR},
                                "affectedCountries": {"type": "array", "items": _STR},
                                "riskLevel": {"enum": ["low", "medium", "high"]},
                                "lastUpdated": _TS,
                            }
                        ),
                        "actionData": _obj(
                            {"queryParams": _obj({"hscode": _STR, "country": _STR, "regulation_type": _STR})}
                        ),
                    }
                },
            },
            {
                "if": {"properties": {"buttonType": {"const": "STATISTICS"}}},
                "then": {
                    "properties": {
                        "metadata": _obj(
                            {
                                "hscode": _STR,
                                "statisticsAvailable": _obj(
                                    {"export": _BOOL, "import": _BOOL, "trends": _BOOL, "countries": _INT}
                                ),
                                "dataRange": {
                                    "oneOf": [
                                        {"type": "null"},
                                        _obj({"startDate": _STR, "endDate": _STR, "latestUpdate": _TS}),
                                    ]
                                },
                            }
                        ),
                        "actionData": _obj({"queryParams": _obj({"hscode": _STR, "period": _STR, "view": _STR})}),
                    }
                },
            },
        ]
    },
    BUTTONS_COMPLETE: _obj(
        {
            "type": {"const": "complete"},
            "totalPreparationTime": _INT,
            "buttonsGenerated": _INT,
            "timestamp": _TS,
            "summary": _obj(
                {
                    "hscode_detected": {"type": ["string", "null"]},
                    "confidence_score": _CONF,
                    "analysis_source": _STR,
                    "fallback_used": _BOOL,
                    "cache_hit": _BOOL,
                }
            ),
            "performance": _obj(
                {
                    "context7_calls": _INT,
                    "context7_latency_ms": _INT,
                    "database_queries": _INT,
                    "total_processing_time": _INT,
                }
            ),
        },
        # Our extensions: the candidates offered (below the threshold) and the question that would settle them.
        {
            "candidates": {
                "type": "array",
                "maxItems": CANDIDATES_MAX,
                "items": _obj({"hscode": _STR, "confidence": _CONF}),
            },
            "followUpByLanguage": _BY_LANGUAGE,
            "chosenBy": {"enum": ["person"]},
            "bookmark": _BOOKMARK_OFFER,
        },
    ),
    BUTTONS_ERROR: {
        "oneOf": [
            # Generic error/timeout (seed 002 §7)
            _obj(
                {
                    "type": {"const": "error"},
                    "errorCode": _STR,
                    "errorMessage": _STR,
                    "timestamp": _TS,
                    "fallbackActivated": _BOOL,
                    "partialResults": _PARTIAL_RESULTS,
                    "retryInfo": _obj({"retryable": _BOOL, "retryAfter": _INT, "maxRetries": _INT}),
                }
            ),
            # Context7 API failure (seed 002 error §1)
            _obj(
                {
                    "type": {"const": "context7_api_error"},
                    "errorCode": {"type": "string", "pattern": "^CONTEXT7_"},
                    "errorMessage": _STR,
                    "timestamp": _TS,
                    "errorDetails": _obj(
                        {
                            "api_endpoint": _STR,
                            "http_status": {"type": ["integer", "null"]},
                            "retry_after": {"type": ["integer", "null"]},
                        }
                    ),
                    "fallback_status": _obj({"activated": _BOOL, "fallback_type": _STR, "reduced_confidence": _BOOL}),
                    "impact_assessment": _obj(
                        {"user_experience": _STR, "feature_availability": _STR, "expected_recovery": _STR}
                    ),
                }
            ),
            # No HS code detected (seed 002 error §2); `partialResults` as in §7 when present
            _obj(
                {
                    "type": {"const": "hscode_detection_failed"},
                    "errorCode": {"const": NO_HSCODE_DETECTED},
                    "errorMessage": _STR,
                    "timestamp": _TS,
                    "analysis_attempted": _obj(
                        {"context7_analysis": _BOOL, "pattern_matching": _BOOL, "keyword_extraction": _BOOL}
                    ),
                    "suggestions": {"type": "array", "items": _STR, "minItems": 1},
                    "fallback_options": _obj(
                        {"general_trade_info": _BOOL, "manual_search_guide": _BOOL, "contact_support": _BOOL}
                    ),
                },
                {"partialResults": _PARTIAL_RESULTS, "suggestionsByLanguage": _BY_LANGUAGE},
            ),
        ]
    },
    BOOKMARK_SAVED: _obj({"bookmark_type": _STR, "target_value": _STR, "display_name": _STR, "timestamp": _TS}),
    ANSWER_FEEDBACK: _obj(
        {
            "assistant_message_id": _INT,
            "vote": {"enum": [*FEEDBACK_VOTES, None]},
            "reason": {"type": "string", "maxLength": FEEDBACK_REASON_MAX_CHARS},
            "timestamp": _TS,
        }
    ),
    ANSWER_DELTA: _obj({"delta": _STR, "index": _INT}),
    ANSWER_COMPLETE: _obj(
        {
            "content": _STR,
            "timestamp": _TS,
            "assistant_message_id": _INT,
            "stopped": _BOOL,
            "replaced": _BOOL,  # true: replace whatever deltas showed with `content`
            "backend": {"enum": ["grounded", "openai"]},
            "fallback": _BOOL,
        },
        # Our extension: set when the answer failed on every attempt (`content` is then the error's text).
        {"error": _obj({"code": _STR, "message": _STR})},
    ),
}

SNAPSHOT_FRAME_SCHEMA = _obj(
    {
        "event": {"const": SNAPSHOT},
        "last_seq": _INT,
        "data": _obj(
            {
                "conversation_id": _STR,
                "messages": {
                    "type": "array",
                    "items": _obj(
                        {
                            "message_id": _INT,
                            "content": _STR,
                            "status": _STR,
                            "detected_hscode": {"type": ["string", "null"]},
                            "buttons": {"type": "array"},
                            "answer": {"oneOf": [{"type": "null"}, _obj({"content": _STR, "status": _STR})]},
                        }
                    ),
                },
            }
        ),
    }
)

REPLAY_MORE_FRAME_SCHEMA = _obj(
    {"event": {"const": REPLAY_MORE}, "data": _obj({"after": _INT, "head": _INT})},
)

ERROR_FRAME_SCHEMA = _obj(
    {"event": {"const": ERROR}, "data": _obj({"code": _STR, "message": _STR})},
)

SERVER_FRAME_SCHEMA = _obj(
    {
        "event": {"enum": sorted(DATA_SCHEMAS)},
        "data": {"type": "object"},
        "message_id": {"type": ["integer", "null"]},
        "seq": {"type": "integer", "minimum": 1},
    }
)
