"""Task B, detail-page preparation: analyse a message, consult Context7, build its three buttons.

Every step is guarded by the message's status and what is already stored, because
Celery delivers at least once (acks_late): a re-delivered step emits nothing twice.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Avg
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext_lazy, override
from redis.exceptions import RedisError

from conversations import contracts
from conversations.events import event_emit
from conversations.models import ChatMessage, ConversationEvent, SearchHistory
from conversations.task_metrics import task_metrics_put
from llm_client import LlmConfig

from .analysis.analyse import CONFIDENCE_THRESHOLD, TextAnalysis, analyse_text
from .analysis.nomenclature import get_nomenclature
from .analysis.text import clean, detect_language
from .buttons import DEFAULT_ORDER, HS_CODE, button_build, button_order, candidate_button, candidate_names
from .cache import (
    case_index_changed,
    code_buttons_get,
    code_buttons_key,
    code_buttons_put,
    code_editions,
    question_get,
    question_key,
    question_put,
)
from .context7_consult import context7_consult, context7_enabled, context7_error_event_data
from .followup import CANDIDATE_MIN_CONFIDENCE, follow_up_questions, follow_up_texts
from .models import ClassificationCase, case_text_hash
from .rerank import llm_rerank
from .selectors import case_index_get, case_index_key
from .stored_analysis import KEY as ANALYSIS_KEY
from .stored_analysis import analysis_dump, stored_analysis

logger = logging.getLogger(__name__)

ANALYSIS_VERSION = "2026.11.29.5"  # + case weight per kind of text, first stage on all trade names
# Time kept back from the button budget for building and announcing the buttons after Context7.
BUTTON_MARGIN_S = 0.5
# The HS code bookmark (sse_bookmark_data) is offered only at or above this confidence.
BOOKMARK_CONFIDENCE = 0.8
PERSON = "person"
# In a stored hscode_analysis: the local analysis, stored by the orchestrator, waits for Context7 (on the io queue).
CONTEXT7_PENDING = "context7_pending"

# A message with no product and no code (a greeting, a question about the service) gets this how-to.
HOW_TO = (
    gettext_lazy("제품명을 구체적으로 적어 주세요 (예: 냉동 삼겹살, 스테인리스 병따개)"),
    gettext_lazy("HS 코드를 알고 있다면 직접 입력해 보세요 (예: 8517.13)"),
    gettext_lazy("관세율, 수입 요건, 무역 통계 중 무엇이 궁금한지 함께 적어 주세요"),
)


def texts_by_language(texts) -> dict[str, list[str]]:
    """Translatable texts in both page languages (the event is stored once and shown in either)."""
    out = {}
    for language in ("ko", "en"):
        with override(language):
            out[language] = [str(text) for text in texts]
    return out


def message_analyse(text: str, *, case_key: tuple | None = None) -> TextAnalysis:
    """The one way the pipeline analyses text: the classifier with the case index, then (when configured) the
    LLM re-ranking of its candidates, whose every failure leaves the local ranking in place."""
    analysis = analyse_text(text, cases=case_index_get(case_key))
    config = rerank_config()
    if config is not None:
        analysis, outcome = llm_rerank(analysis, config)
        logger.info("llm rerank: %s %s", outcome.status, outcome.code or "")
    return analysis


def rerank_config() -> LlmConfig | None:
    if not (settings.LLM_RERANK and settings.LLM_BASE_URL):
        return None
    return LlmConfig(base_url=settings.LLM_BASE_URL, api_key=settings.LLM_API_KEY, model=settings.LLM_MODEL,
                     timeout_s=settings.LLM_RERANK_TIMEOUT_S, max_s=settings.LLM_RERANK_TIMEOUT_S)


# --- labelled cases ------------------------------------------------------------------------------------------

# The case corpora the project ships (data/kcs/README.md; 출처: 관세청), loaded on first start.
SHIPPED_CASE_FILES = (
    ("hs_cases_kcs_names_en.jsonl", ClassificationCase.Source.KCS_NAMES),
    ("hs_cases_kcs_rulings_ko.jsonl", ClassificationCase.Source.KCS_RULING),
)


@dataclass(frozen=True)
class CaseImportResult:
    imported: int
    present: int  # already in the index (same text and code)
    invalid: list[str]  # "line N: why" for each row skipped


def classification_cases_import(lines: Iterable[str], source: str) -> CaseImportResult:
    """Load JSONL case rows {"text", "hs6", "lang"?, "hsk10"?, "reference_id"?, "decision_date"?} in one transaction.

    Rows already present (same text and code) are skipped, so loading a file twice adds nothing.
    """
    nomenclature = get_nomenclature()
    rows: dict[tuple[str, str], ClassificationCase] = {}
    invalid: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            text = clean(str(row["text"])).strip()
            hs6 = "".join(ch for ch in str(row["hs6"]) if ch.isdigit())
        except (json.JSONDecodeError, KeyError, TypeError):
            invalid.append(f"line {number}: expected {{\"text\", \"hs6\"}}")
            continue
        if not text or len(hs6) < 6 or hs6[:6] not in nomenclature:
            invalid.append(f"line {number}: {hs6!r} is no HS 2022 subheading")
            continue
        decision_date = parse_date(str(row.get("decision_date") or "")) if row.get("decision_date") else None
        hsk10 = "".join(ch for ch in str(row.get("hsk10") or "") if ch.isdigit())
        key = (case_text_hash(text), hs6[:6])
        rows.setdefault(key, ClassificationCase(
            text=text, text_hash=key[0], hs6=hs6[:6],
            lang=row.get("lang") if row.get("lang") in ("ko", "en") else detect_language(text), source=source,
            reference_id=str(row.get("reference_id") or "")[:64], decision_date=decision_date,
            hsk10=hsk10 if len(hsk10) == 10 and hsk10.startswith(hs6[:6]) else "",
        ))
    existing: set[tuple[str, str]] = set()
    hashes = [k[0] for k in rows]
    for start in range(0, len(hashes), 500):
        chunk = hashes[start : start + 500]
        existing.update(ClassificationCase.objects.filter(text_hash__in=chunk).values_list("text_hash", "hs6"))
    new = [case for key, case in rows.items() if key not in existing]
    with transaction.atomic():
        ClassificationCase.objects.bulk_create(new, batch_size=500, ignore_conflicts=True)
        if new:
            case_index_changed()  # bulk_create sends no post_save
    return CaseImportResult(imported=len(new), present=len(rows) - len(new), invalid=invalid)


class ShippedCasesResult(dict):
    """{file name: CaseImportResult}, printed as one line by load_shipped_data."""

    def __str__(self) -> str:
        return "; ".join(f"{name} {r.imported} loaded, {r.present} already present, {len(r.invalid)} invalid"
                         for name, r in self.items())


def classification_cases_shipped_load(*, progress: Callable[[int], object] | None = None) -> ShippedCasesResult:
    """Load the shipped KCS case corpora into the case index (idempotent; run by load_shipped_data)."""
    folder = Path(settings.BASE_DIR) / "data" / "kcs"
    results = ShippedCasesResult()
    for name, source in SHIPPED_CASE_FILES:
        path = folder / name
        expected = sum(1 for line in path.open(encoding="utf-8") if line.strip())
        if ClassificationCase.objects.filter(source=source).count() >= expected:
            results[name] = CaseImportResult(imported=0, present=expected, invalid=[])
        else:
            with path.open(encoding="utf-8") as fh:
                results[name] = classification_cases_import(fh, source)
        if progress is not None:
            progress(expected)
    return results


@contextmanager
def _count_queries():
    """Count the SQL statements run inside the block (reported in the complete event)."""
    counter = {"n": 0}

    def wrapper(execute, sql, params, many, context):
        counter["n"] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield counter


# --- cache of finished work (seed 001, Day 9; hscode/cache.py) ------------------------------------


def question_cache_key(text: str, case_key: tuple | None = None) -> str:
    """Cache key of a normalised question and of what its analysis depends on (version, case index; `case_key`
    when the caller already read it for this message)."""
    return question_key(text, analysis_version=ANALYSIS_VERSION,
                        case_index=case_index_key() if case_key is None else case_key)


def _detail_cache_put(message: ChatMessage, buttons: dict[str, dict] | None = None) -> None:
    """A completed message's buttons, for the same question and for every question about the same code, under
    the keys and data editions noted before its buttons were built (a change since then is never hidden)."""
    record = message.hscode_analysis
    noted = record.get("code_cache")
    if noted is None:
        return
    if buttons is None:
        buttons = {
            e.data["buttonType"]: e.data
            for e in ConversationEvent.objects.filter(message=message, event=contracts.BUTTON_READY)
        }
    if record.get("question_key"):
        question_put(record["question_key"], record=record, context7_analysis=message.context7_analysis,
                     buttons=buttons, editions=noted["editions"])
    if not noted["hit"] and all(b in buttons for b in DEFAULT_ORDER):
        code_buttons_put(noted["key"], {b: buttons[b] for b in DEFAULT_ORDER})


def _code_cache_applies(record: dict) -> bool:
    """Buttons of a code the text resolved to (a person's own pick and candidate buttons are built each time)."""
    return record["resolved"] is not None and record["analysis_source"] != PERSON


def _code_buttons_serve(message_id: int) -> bool:
    """Announce the resolved code's cached buttons at once, with no button tasks (True), or note the key and the
    data editions under which the buttons about to be built will be cached (False)."""
    record = ChatMessage.objects.filter(pk=message_id).values_list("hscode_analysis", flat=True).first()
    if not record or "code_cache" in record:  # a re-delivered task: the lookup was made
        return False
    resolved = record["resolved"]
    try:
        editions = code_editions(resolved["code"])  # read before the data the buttons are built from
        key = code_buttons_key(resolved["display"], record.get("language") or "ko",
                               analysis_version=ANALYSIS_VERSION, editions=editions)
        cached = code_buttons_get(key)
    except RedisError:  # no editions, no caching: the buttons are built and not stored
        logger.warning("code cache unavailable for message %s", message_id, exc_info=True)
        return False
    with transaction.atomic():
        message = ChatMessage.objects.locked().select_related("conversation").get(pk=message_id)
        record = message.hscode_analysis
        if message.status != ChatMessage.Status.ANALYSING or "code_cache" in record:
            return False
        hit = cached is not None and not record["detail_buttons"]
        record["code_cache"] = {"key": key, "editions": editions, "hit": hit}
        if not hit:
            message.save(update_fields=["hscode_analysis", "updated_at"])
            return False
        session_id = str(message.conversation_id)
        for button_type in record["button_order"]:
            _announce_button(message, _personalised(cached[button_type], record, session_id))
        _complete(message)
    return True


def _personalised(data: dict, record: dict, session_id: str) -> dict:
    """A cached button payload with this message's parts: its place in the order, and for the HS code button
    the confidence, the source, the time and the conversation."""
    data = copy.deepcopy(data)
    data["priority"] = record["button_order"].index(data["buttonType"]) + 1
    if data["buttonType"] == HS_CODE:
        data["metadata"].update(confidence=round(float(record["classification_confidence"]), 4),
                                analysisSource=record["analysis_source"], searchTime=contracts.now_iso())
        data["actionData"]["queryParams"]["session_id"] = session_id
    return data


# --- the steps --------------------------------------------------------------------


def detail_page_estimate_ms() -> int:
    """The average of the last 20 completed preparations, refreshed every 30 s (not per message)."""
    return cache.get_or_set("detail-page:estimate-ms", _estimate_from_recent, timeout=30)


def _estimate_from_recent() -> int:
    recent = list(
        ChatMessage.objects.filter(status=ChatMessage.Status.COMPLETED, detail_page_processing_time__isnull=False)
        .order_by("-id")
        .values_list("pk", flat=True)[:20]
    )
    average = ChatMessage.objects.filter(pk__in=recent).aggregate(avg=Avg("detail_page_processing_time"))["avg"]
    return int(average) if average else settings.DETAIL_PAGE_BUDGET_MS


def _resolved(
    analysis: TextAnalysis | None, candidates: list[dict], choice: dict | None = None
) -> tuple[dict | None, str, float]:
    """The code that drives the buttons, where it came from, and how sure we are."""
    if choice:
        digits = "".join(ch for ch in str(choice["hscode"]) if ch.isdigit())[:6]
        display = f"{digits[:4]}.{digits[4:]}"
        return ({"code": digits, "display": display, "national": "", "level": 6}, PERSON,
                float(choice.get("confidence") or 0.0))
    if analysis.explicit is not None:
        mention = analysis.explicit
        resolved = {"code": mention.code, "display": mention.dotted, "national": mention.national,
                    "level": mention.level}
        return resolved, "explicit", 1.0
    top = candidates[0] if candidates else None
    if top is not None and top["confidence"] >= CONFIDENCE_THRESHOLD:
        digits = "".join(ch for ch in str(top["code"]) if ch.isdigit())[:6]
        source = "context7" if "context7" in top.get("source", "") else "local"
        display = f"{digits[:4]}.{digits[4:]}" if len(digits) == 6 else digits
        return {"code": digits, "display": display, "national": "", "level": len(digits)}, source, top["confidence"]
    return None, "local", top["confidence"] if top else 0.0


def analysis_record(analysis: TextAnalysis, *, started_iso: str, elapsed_ms: int,
                    candidates: list[dict] | None = None, choice: dict | None = None) -> dict:
    """The stored hscode_analysis: seed 002 fields first, then what staff and pages need.

    `choice` is the person's pick among earlier candidates (ChatMessage.person_choice): it drives the buttons.
    """
    candidates = candidates if candidates is not None else [c.to_dict() for c in analysis.candidates]
    resolved, source, confidence = _resolved(analysis, candidates, choice)
    return contracts.HscodeAnalysisRecord(
        detected_hscode=resolved["display"] if resolved else None,
        product_name=analysis.product_name,
        classification_confidence=round(float(confidence), 4),
        intent_detection=analysis.intent.to_dict(),
        detail_buttons=[],
        processing_metadata={
            "analysis_timestamp": started_iso,
            "processing_time_ms": elapsed_ms,
            "analysis_version": ANALYSIS_VERSION,
            "database_queries": 0,
        },
        analysis_source=source,
        language=analysis.language,
        resolved=resolved,
        hscode_candidates=candidates,
        invalid_codes=[
            {"raw": m.raw, "reason": m.reason, "suggestions": list(m.suggestions)}
            for m in analysis.mentions
            if not m.valid
        ],
        needs_detail=list(analysis.needs_detail) if resolved is None else [],
        button_order=button_order(analysis.intent.primary_intent),
        fallback_used=False,
        cache_hit=False,
    ).serialize()


def _begin(message_id: int) -> ChatMessage | None:
    """PENDING → ANALYSING, announced once."""
    with transaction.atomic():
        message = ChatMessage.objects.locked().filter(pk=message_id, role=ChatMessage.Role.USER).first()
        if message is None:
            logger.warning("detail_page_prepare: no user message %s", message_id)
            return None
        if message.status == ChatMessage.Status.PENDING:
            message.status = ChatMessage.Status.ANALYSING
            task_metrics_put(message, "task_b", start_time=contracts.now_iso(), end_time=None, status="running")
            message.save(update_fields=["status", "parallel_task_metrics", "updated_at"])
            event_emit(
                conversation_id=message.conversation_id,
                message_id=message.pk,
                event=contracts.BUTTONS_START,
                data=contracts.buttons_start_data(
                    estimated_ms=detail_page_estimate_ms(),
                    context7_enabled=context7_enabled(),
                    cache_checked=settings.DETAIL_CACHE_TTL_S > 0,
                ),
            )
    return message


def detail_page_prepare(message_id: int) -> list[str]:
    """Analyse the message once (or serve it from the cache) and return the button types still to build."""
    started_cpu = time.process_time()
    with _count_queries() as queries:
        message = _begin(message_id)
        if message is None or message.status != ChatMessage.Status.ANALYSING:
            return []
        if (message.hscode_analysis or {}).get(CONTEXT7_PENDING):
            # The orchestrator stored the local analysis; Context7 refines it here (on the io queue).
            _analyse_and_store(message, question_cache_key=message.hscode_analysis.get("question_key", ""),
                               analysis=stored_analysis(message.hscode_analysis))
        elif message.hscode_analysis is None:
            case_key = case_index_key()  # read once: for the question's key and for the analysis
            key = question_key(message.content, analysis_version=ANALYSIS_VERSION, case_index=case_key)
            cached = question_get(key)
            if cached is not None:
                _serve_from_cache(message_id, cached)
                return []
            _analyse_and_store(message, question_cache_key=key, case_key=case_key)
        message.refresh_from_db(fields=["status", "hscode_analysis"])
        record = message.hscode_analysis
        if message.status == ChatMessage.Status.ANALYSING:
            _add_costs(message_id, queries["n"], time.process_time() - started_cpu)
    if message.status != ChatMessage.Status.ANALYSING:
        return []
    done = {b["type"] for b in record["detail_buttons"]}
    todo = [b for b in record.get("button_order", DEFAULT_ORDER) if b not in done]
    if todo and _code_cache_applies(record) and _code_buttons_serve(message_id):
        return []
    return todo


def _add_costs(message_id: int, queries: int, cpu_s: float) -> None:
    with transaction.atomic():
        message = ChatMessage.objects.locked().get(pk=message_id)
        if message.hscode_analysis is None:
            return
        meta = message.hscode_analysis["processing_metadata"]
        meta["database_queries"] = meta.get("database_queries", 0) + queries
        meta["cpu_ms"] = meta.get("cpu_ms", 0) + round(cpu_s * 1000)
        message.save(update_fields=["hscode_analysis"])


def _analyse_and_store(message: ChatMessage, *, question_cache_key: str = "", case_key: tuple | None = None,
                       analysis: TextAnalysis | None = None) -> None:
    """Analyse (unless the stored analysis is given), consult Context7 when it is on, store the record."""
    started_iso, started = contracts.now_iso(), time.monotonic()
    waiting_since = message.waiting_since or message.created_at
    if analysis is None:
        analysis = message_analyse(message.content, case_key=case_key)
    candidates = [c.to_dict() for c in analysis.candidates]
    outcome = None
    if context7_enabled() and (analysis.product_name or analysis.explicit is not None):
        # What is left of the person's button budget (time queued counts), less a margin for the buttons.
        waited_s = (datetime.now(UTC) - waiting_since).total_seconds()
        left_s = settings.DETAIL_PAGE_BUDGET_MS / 1000 - waited_s - BUTTON_MARGIN_S
        outcome = context7_consult(analysis.product_name or analysis.text, analysis.text, candidates, budget_s=left_s)
        candidates = outcome.candidates
    record = analysis_record(analysis, started_iso=started_iso, elapsed_ms=0, candidates=candidates,
                             choice=message.person_choice)
    record["processing_metadata"]["processing_time_ms"] = int((time.monotonic() - started) * 1000)
    record["fallback_used"] = bool(outcome and outcome.error)
    record["question_key"] = question_cache_key
    record[ANALYSIS_KEY] = analysis_dump(analysis)
    offered = _candidate_buttons(record, analysis, str(message.conversation_id))

    with transaction.atomic():
        locked = ChatMessage.objects.locked().get(pk=message.pk)
        stored = locked.hscode_analysis
        if stored is not None and not stored.get(CONTEXT7_PENDING):  # a concurrent delivery stored it first
            return
        locked.hscode_analysis = record
        fields = ["hscode_analysis", "updated_at"]
        if outcome is not None:
            locked.context7_analysis = outcome.analysis
            fields.append("context7_analysis")
            if outcome.error is not None:
                event_emit(
                    conversation_id=locked.conversation_id,
                    message_id=locked.pk,
                    event=contracts.BUTTONS_ERROR,
                    data=context7_error_event_data(
                        outcome.error,
                        {"hscode_detected": record["detected_hscode"],
                         "confidence_score": record["classification_confidence"]},
                    ),
                )
        if record["resolved"] is None and offered:
            locked.save(update_fields=fields)
            for data in offered:
                _announce_button(locked, data)
            _complete(locked)
            return
        if record["resolved"] is None:
            fields += _no_code_fail(locked, record, context7_attempted=outcome is not None)
        locked.save(update_fields=fields)


def _no_code_fail(message: ChatMessage, record: dict, *, context7_attempted: bool) -> list[str]:
    """No code and no candidate worth showing: the message fails with NO_HSCODE_DETECTED (in the caller's
    transaction, `message` locked and holding `record`). Returns the fields the caller saves."""
    message.status = ChatMessage.Status.FAILED
    message.detail_page_processing_time = _elapsed_since(message)
    # Weak candidates: the question that would separate them; no product at all: how to ask.
    advice = record["follow_up"] if record["follow_up"].get("ko") else texts_by_language(HOW_TO)
    data = contracts.no_hscode_error_data(
        context7_attempted=context7_attempted,
        needs_detail=record["needs_detail"] or ["product"],
        invalid_codes=record["invalid_codes"],
        candidates=record["hscode_candidates"][:3],
        confidence=record["classification_confidence"],
        suggestions_by_language=advice,
    )
    # Stored with the analysis, so a reload shows exactly what the live viewer saw.
    record["no_hscode"] = {"suggestionsByLanguage": data["suggestionsByLanguage"]}
    event_emit(conversation_id=message.conversation_id, message_id=message.pk, event=contracts.BUTTONS_ERROR,
               data=data)
    _task_b_finish(message, "failed")
    return ["status", "detail_page_processing_time", "parallel_task_metrics"]


def _candidate_buttons(record: dict, analysis: TextAnalysis, session_id: str) -> list[dict]:
    """Below the threshold: up to three candidates worth showing, as buttons; the follow-up question into record.

    Built before the message is locked (it reads the 관세청 names). Empty when a code is resolved or none is worth
    showing (then NO_HSCODE_DETECTED follows).
    """
    record["follow_up"] = {}
    record["candidates_offered"] = []
    if record["resolved"] is not None and record["analysis_source"] != PERSON:
        return []
    candidates = [c for c in record["hscode_candidates"] if len(_digits(c["code"])) >= 6][: contracts.CANDIDATES_MAX]
    shown = [c for c in candidates if float(c["confidence"]) >= CANDIDATE_MIN_CONFIDENCE]
    names = candidate_names([str(c["code"]) for c in candidates]) if candidates else {}
    labels = {code: (f"{code} {ko}", f"{code} {en}") for code, (ko, en) in names.items()}
    # Ask about the candidates the person sees (all of them when fewer than two clear the bar).
    asked = shown if len(shown) >= 2 else candidates
    record["follow_up"] = follow_up_texts(follow_up_questions(asked, analysis.text, labels))
    buttons = [
        candidate_button(code=str(c["code"]), confidence=float(c["confidence"]), rank=rank,
                         names=names[str(c["code"])], language=analysis.language,
                         source="context7" if "context7" in str(c.get("source", "")) else "local",
                         session_id=session_id)
        for rank, c in enumerate(shown, start=1)
    ]
    record["candidates_offered"] = [
        {key: b["metadata"][key] for key in ("hscode", "confidence", "nameKo", "nameEn")} | {"url": b["url"]}
        for b in buttons
    ]
    # A person's earlier pick (kept through reprocessing) drives the buttons; the candidates stay choosable.
    return [] if record["resolved"] is not None else buttons


def _digits(code: object) -> str:
    return "".join(ch for ch in str(code) if ch.isdigit())


def _serve_from_cache(message_id: int, cached: dict) -> None:
    """A repeated question: the stored analysis and buttons, announced at once (no extra task hops)."""
    with transaction.atomic():
        message = ChatMessage.objects.locked().get(pk=message_id)
        if message.hscode_analysis is not None or message.status != ChatMessage.Status.ANALYSING:
            return
        record = copy.deepcopy(cached["record"])
        record["cache_hit"] = True
        record["fallback_used"] = False
        record["processing_metadata"]["analysis_timestamp"] = contracts.now_iso()
        record["detail_buttons"] = []
        message.hscode_analysis = record
        message.context7_analysis = cached.get("context7_analysis")
        for button_type in record["button_order"]:
            data = copy.deepcopy(cached["buttons"][button_type])
            if button_type == HS_CODE:
                data["metadata"]["searchTime"] = contracts.now_iso()
                data["actionData"]["queryParams"]["session_id"] = str(message.conversation_id)
            _announce_button(message, data)
        message.save(update_fields=["hscode_analysis", "context7_analysis", "updated_at"])
        _complete(message)


def _elapsed_since(message: ChatMessage) -> int:
    """Milliseconds the person has waited for this message's buttons (since it was sent or reset)."""
    since = message.waiting_since or message.created_at
    return max(0, int((datetime.now(UTC) - since).total_seconds() * 1000))


def _announce_button(message: ChatMessage, data: dict) -> None:
    """Record the button on the (locked) message and emit it; fills the bookmark for a sure HS code."""
    record = message.hscode_analysis
    record["detail_buttons"].append(contracts.stored_button(data))
    event_emit(conversation_id=message.conversation_id, message_id=message.pk, event=contracts.BUTTON_READY,
               data=data)
    sure = record["classification_confidence"] >= BOOKMARK_CONFIDENCE or record["analysis_source"] == PERSON
    if data["buttonType"] == HS_CODE and record["resolved"] is not None and sure:
        message.sse_bookmark_data = bookmark_data(message, record, data["priority"])


def bookmark_data(message: ChatMessage, record: dict, priority: int) -> dict:
    """seed 002 sse_bookmark_data: offered when the HS_CODE button is ready and the code is sure enough."""
    product = record.get("product_name") or ""
    code = record["detected_hscode"]
    return {
        "bookmark_available": True,
        "bookmark_type": HS_CODE,
        "target_value": code,
        "display_name": f"{product} (HS Code {code})" if product else f"HS Code {code}",
        "sse_generated": True,
        "generation_metadata": {
            "generated_at": contracts.now_iso(),
            "button_priority": priority,
            "confidence_threshold_met": True,
            # Monitoring notifications need an account to reach; anonymous sessions can still view.
            "user_eligible": message.conversation.owner_user_id is not None,
        },
        "bookmark_config": {
            "auto_monitoring": True,
            "notification_types": ["regulation_changes", "statistics_updates"],
            "default_settings": {"sms_enabled": False, "email_enabled": True},
        },
    }


def _complete(message: ChatMessage, buttons: dict[str, dict] | None = None) -> None:
    """All three buttons are out: mark the message complete, announce it, record task B, cache the work.
    `buttons` (type: data), when the caller holds them, spares the cache a read of the event log."""
    record = message.hscode_analysis
    total_ms = _elapsed_since(message)
    context7_performance = (message.context7_analysis or {}).get("performance", {})
    message.status = ChatMessage.Status.COMPLETED
    message.detail_page_processing_time = total_ms
    record["processing_metadata"]["database_queries"] = record["processing_metadata"].get("database_queries", 0) + 2
    _task_b_finish(message, "completed")
    message.save(update_fields=["status", "detail_page_processing_time", "hscode_analysis", "context7_analysis",
                                "sse_bookmark_data", "parallel_task_metrics", "updated_at"])
    event_emit(
        conversation_id=message.conversation_id,
        message_id=message.pk,
        event=contracts.BUTTONS_COMPLETE,
        data=contracts.buttons_complete_data(
            total_ms=total_ms,
            buttons_generated=len(record["detail_buttons"]),
            hscode=record["detected_hscode"],
            confidence=record["classification_confidence"],
            analysis_source=record["analysis_source"],
            fallback_used=record["fallback_used"],
            cache_hit=record.get("cache_hit", False) or (record.get("code_cache") or {}).get("hit", False),
            context7_calls=context7_performance.get("total_api_calls", 0),
            context7_latency_ms=context7_performance.get("total_duration_ms", 0),
            database_queries=record["processing_metadata"]["database_queries"],
            candidates=[{"hscode": b["hscode"], "confidence": b["confidence"]}
                        for b in record["detail_buttons"] if b.get("candidate")],
            follow_up=record.get("follow_up") if record["resolved"] is None else None,
            chosen_by_person=record["analysis_source"] == PERSON,
            bookmark=contracts.bookmark_offer(message.sse_bookmark_data),
        ),
    )
    # Only a resolved code from the text alone is reused (never a person's own pick), and nothing from an error:
    # an analysis whose Context7 lookup failed is not stored, so the next asker gets a real lookup.
    if not record.get("cache_hit") and _code_cache_applies(record) and not record.get("fallback_used"):
        transaction.on_commit(lambda: _detail_cache_put(message, buttons))


def _task_b_finish(message: ChatMessage, status: str) -> None:
    record = message.hscode_analysis or {}
    task_b = ((message.parallel_task_metrics or {}).get("task_execution") or {}).get("task_b") or {}
    context7_performance = (message.context7_analysis or {}).get("performance", {})
    task_metrics_put(
        message, "task_b",
        start_time=task_b.get("start_time") or record.get("processing_metadata", {}).get("analysis_timestamp"),
        end_time=contracts.now_iso(), status=status,
        context7_calls=context7_performance.get("total_api_calls", 0),
        fallback_used=record.get("fallback_used", False),
        cache_hit=record.get("cache_hit", False),
        cpu_ms=record.get("processing_metadata", {}).get("cpu_ms", 0),
    )


# --- the whole buttons track at once (buttons from local data; hscode/pipeline.py) ---------------------------


def detail_buttons_local(record: dict, analysis: TextAnalysis, session_id: str) -> list[dict]:
    """What the buttons say, built before the message is locked (it reads other tables and the per-code cache):
    below the threshold the candidate buttons (empty when none is worth showing), else the resolved code's three
    buttons, from the per-code cache when it holds them. Notes the cache key and data editions in `record`."""
    offered = _candidate_buttons(record, analysis, session_id)
    if record["resolved"] is None:
        return offered
    cached = None
    if _code_cache_applies(record):
        try:
            editions = code_editions(record["resolved"]["code"])  # read before the data the buttons are built from
            key = code_buttons_key(record["resolved"]["display"], record.get("language") or "ko",
                                   analysis_version=ANALYSIS_VERSION, editions=editions)
            cached = code_buttons_get(key)
            record["code_cache"] = {"key": key, "editions": editions, "hit": cached is not None}
        except RedisError:  # no editions, no caching: the buttons are built and not stored
            logger.warning("code cache unavailable for %s", record["resolved"]["display"], exc_info=True)
            cached = None
    if cached is not None:
        return [_personalised(cached[b], record, session_id) for b in record["button_order"]]
    stored = contracts.HscodeAnalysisRecord.parse(record)
    return [button_build(b, analysis=stored, session_id=session_id) for b in record["button_order"]]


def question_cache_serving(cached: dict, session_id: str) -> tuple[dict, list[dict]]:
    """A repeated question's stored analysis and buttons, made this message's (the time, the conversation)."""
    record = copy.deepcopy(cached["record"])
    record["cache_hit"] = True
    record["fallback_used"] = False
    record["processing_metadata"]["analysis_timestamp"] = contracts.now_iso()
    record["detail_buttons"] = []
    buttons = []
    for button_type in record["button_order"]:
        data = copy.deepcopy(cached["buttons"][button_type])
        if button_type == HS_CODE:
            data["metadata"]["searchTime"] = contracts.now_iso()
            data["actionData"]["queryParams"]["session_id"] = session_id
        buttons.append(data)
    return record, buttons


def detail_page_build(message_id: int) -> None:
    """The buttons track step by step (a message already analysing, or one whose analysis waits for Context7):
    prepare, then build each button still missing, here (they are built from local data)."""
    for button_type in detail_page_prepare(message_id):
        detail_button_ready(message_id, button_type)


def detail_buttons_announce(message: ChatMessage, record: dict, buttons: list[dict]) -> None:
    """The buttons track of a message whose buttons are built from local data, whole, in the caller's transaction
    (`message` locked and PENDING): `detail_page_buttons_start`, the analysis stored, each button as its own
    `detail_page_button_ready`, then `detail_page_buttons_complete` (or the no-code error), task B recorded. One
    commit makes them all visible at once, in seq order; nothing is emitted twice, as the status guards it."""
    message.status = ChatMessage.Status.ANALYSING
    message.hscode_analysis = record
    event_emit(
        conversation_id=message.conversation_id, message_id=message.pk, event=contracts.BUTTONS_START,
        # The estimate is what it took: the buttons follow in this same commit.
        data=contracts.buttons_start_data(estimated_ms=_elapsed_since(message), context7_enabled=False,
                                          cache_checked=settings.DETAIL_CACHE_TTL_S > 0),
    )
    if not buttons:
        fields = _no_code_fail(message, record, context7_attempted=False)
        message.save(update_fields=[*fields, "hscode_analysis", "updated_at"])
        return
    for data in buttons:
        _announce_button(message, data)
    _complete(message, {data["buttonType"]: data for data in buttons})


def detail_button_ready(message_id: int, button_type: str) -> bool:
    """Build one button and announce it; the last one also completes the set. True if it emitted."""
    if button_type not in DEFAULT_ORDER:
        raise ValueError(f"unknown button type {button_type!r}")
    started_cpu = time.process_time()
    with _count_queries() as queries:
        snapshot = (
            ChatMessage.objects.filter(pk=message_id)
            .values("status", "hscode_analysis", "conversation_id")
            .first()
        )
        if not snapshot or snapshot["status"] != ChatMessage.Status.ANALYSING or not snapshot["hscode_analysis"]:
            return False
        stored = contracts.HscodeAnalysisRecord.parse(snapshot["hscode_analysis"])
        if any(b["type"] == button_type for b in stored.detail_buttons):
            return False
        # Built outside the lock: it reads other tables and should not hold the message row.
        data = button_build(button_type, analysis=stored, session_id=str(snapshot["conversation_id"]))
        with transaction.atomic():
            message = ChatMessage.objects.locked().select_related("conversation").get(pk=message_id)
            record = message.hscode_analysis
            if message.status != ChatMessage.Status.ANALYSING or any(
                b["type"] == button_type for b in record["detail_buttons"]
            ):
                return False
            meta = record["processing_metadata"]
            meta["database_queries"] = meta.get("database_queries", 0) + queries["n"] + 2
            meta["cpu_ms"] = meta.get("cpu_ms", 0) + round((time.process_time() - started_cpu) * 1000)
            _announce_button(message, data)
            if len(record["detail_buttons"]) == len(DEFAULT_ORDER):
                _complete(message)
            else:
                message.save(update_fields=["hscode_analysis", "sse_bookmark_data", "updated_at"])
    return True


# --- the person's pick among the candidates ------------------------------------------------


class ChoiceError(ValueError):
    """A pick that cannot be taken; `code` and `message` go back to the person as an error frame."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def message_code_choose(*, conversation_id, message_id: int, hscode: object) -> bool:
    """Store the person's pick among the message's candidates and build that code's three buttons.

    The pick is the person's own (ChatMessage.person_choice, apart from staff verdicts) and reprocessing keeps it.
    Returns False when this code was already picked (a repeated click emits nothing).
    """
    wanted = _digits(hscode)[:6] if isinstance(hscode, str) else ""
    with transaction.atomic():
        message = (
            ChatMessage.objects.locked()
            .filter(pk=message_id, conversation_id=conversation_id, role=ChatMessage.Role.USER)
            .first()
        )
        if message is None:
            raise ChoiceError("not_found", "메시지를 찾을 수 없습니다.")
        record = message.hscode_analysis
        if message.status != ChatMessage.Status.COMPLETED or not record:
            raise ChoiceError("not_ready", "이 메시지의 분석이 아직 끝나지 않았습니다.")
        offered = {_digits(c["hscode"]): c for c in record.get("candidates_offered") or []}
        if len(wanted) != 6 or wanted not in offered:
            raise ChoiceError("not_a_candidate", "이 메시지에 제시된 후보 코드 중에서 골라 주세요.")
        if record["analysis_source"] == PERSON and _digits(record["detected_hscode"]) == wanted:
            return False
        candidate = offered[wanted]
        message.person_choice = {"hscode": candidate["hscode"], "confidence": candidate["confidence"],
                                 "chosen_at": contracts.now_iso()}
        resolved, source, confidence = _resolved(None, [], message.person_choice)
        record.update(resolved=resolved, analysis_source=source, detected_hscode=resolved["display"],
                      classification_confidence=round(confidence, 4), detail_buttons=[], needs_detail=[])
        message.status = ChatMessage.Status.ANALYSING
        message.waiting_since = datetime.now(UTC)
        message.sse_bookmark_data = None
        message.save(update_fields=["person_choice", "hscode_analysis", "status", "waiting_since",
                                    "sse_bookmark_data", "updated_at"])
        # The owner's recent codes follow the pick, as the live page shows it.
        conversation = message.conversation
        SearchHistory.objects.update_or_create(
            message=message,
            defaults={"owner_user_id": conversation.owner_user_id, "owner_session_key": conversation.owner_session_key,
                      "hscode": resolved["display"], "product_name": (record.get("product_name") or "")[:200]},
        )
        event_emit(
            conversation_id=message.conversation_id, message_id=message.pk, event=contracts.BUTTONS_START,
            data=contracts.buttons_start_data(estimated_ms=detail_page_estimate_ms(), context7_enabled=False,
                                              cache_checked=False),
        )
    for button_type in record["button_order"]:
        detail_button_ready(message_id, button_type)
    return True


def message_buttons_give_up(message: ChatMessage) -> None:
    """The buttons step ran out of attempts (conversations/recovery.py): end the person's wait with the seed 002
    §7 error. Called with the message locked, inside the transaction that records the failure."""
    if message.status not in (ChatMessage.Status.PENDING, ChatMessage.Status.ANALYSING):
        return
    record = contracts.HscodeAnalysisRecord.parse(message.hscode_analysis) or contracts.HscodeAnalysisRecord()
    since = message.waiting_since or message.created_at
    message.status = ChatMessage.Status.FAILED
    message.detail_page_processing_time = max(0, int((timezone.now() - since).total_seconds() * 1000))
    now = contracts.now_iso()
    task_metrics_put(message, "task_b", start_time=now, end_time=now, status="failed")
    message.save(update_fields=["status", "detail_page_processing_time", "parallel_task_metrics", "updated_at"])
    event_emit(
        conversation_id=message.conversation_id,
        message_id=message.pk,
        event=contracts.BUTTONS_ERROR,
        data=contracts.processing_failed_error_data(
            buttons_generated=len(record.detail_buttons or []),
            hscode_detected=record.detected_hscode,
            confidence_score=float(record.classification_confidence or 0.0),
            max_retries=settings.CHAT_STEP_MAX_ATTEMPTS,
        ),
    )
