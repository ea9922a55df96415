"""Context7 consultation for detail-page preparation (Django wiring of context7_client).

`context7_consult(product_name, question, local_candidates)` asks the configured
Context7 library about the product, finds HS codes in the returned snippets and
merges them with the local candidates. It never raises and returns within
CONTEXT7_BUDGET_S (plus a few milliseconds of local work): on any failure the
outcome carries the error and the local candidates unchanged (the fallback).

Library: CONTEXT7_LIBRARY_ID is used as is; with only CONTEXT7_LIBRARY_NAME the
ID is resolved through /v2/libs/search once per process (and cached in Redis).

Extraction: every valid HS 2022 code the notation parser finds in a snippet
(title, text and code blocks) at heading (4-digit) or subheading (6-digit)
level, with up to 80 characters of context either side. Bare digit runs and
chapters are ignored: numbers in code samples would read as codes.

Context7 confidence of a code found in the documentation:
    0.50 for a subheading, 0.35 for a heading
    + 0.10 for each further snippet that mentions it (at most + 0.20)
    + 0.15 when its context or snippet title shares a word with the product or question
    capped at 0.90.

Merge rule (candidates keep every key they came with):
1. Same subheading found by both: confidence = 1 - (1 - local) * (1 - context7)
   (independent evidence, noisy-OR), source "local+context7", the original
   source kept in "local_source".
2. Only the heading agrees (Context7 names 8517, or another subheading of
   8517, for a local 8517.13): noisy-OR with half the Context7 confidence;
   the source stays the local one and "context7_support" = "heading".
3. A Context7 subheading no local candidate shares: added with
   min(context7, 0.60), source "context7" -- documentation alone never
   outranks a corroborated candidate.
4. Local candidates without support are unchanged.
Confidences are capped at 0.99 and rounded to 3 places; the list is sorted by
confidence, then code.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

from context7_client import (
    GET_LIBRARY_DOCS,
    AsyncContext7Client,
    BreakerConfig,
    CacheConfig,
    CallRecord,
    Context7ApiError,
    Context7Client,
    Context7Config,
    Context7Error,
    Context7TimeoutError,
    Documentation,
    LibrarySearch,
    RetryConfig,
    utc_timestamp,
)
from context7_client.errors import (
    API_FAILURE,
    CIRCUIT_OPEN,
    LIBRARY_NOT_FOUND,
    RATE_LIMITED,
    TIMEOUT,
    UNAUTHORIZED,
)
from conversations import contracts
from hscode.analysis.notation import extract_codes

logger = logging.getLogger(__name__)

CONTEXT_CHARS = 80
SUBHEADING_BASE, HEADING_BASE = 0.50, 0.35
SUPPORT_STEP, SUPPORT_MAX = 0.10, 0.20
RELEVANCE_BONUS = 0.15
CONTEXT7_MAX = 0.90
CONTEXT7_ONLY_MAX = 0.60
MERGED_MAX = 0.99
MAX_INSIGHTS = 5

ERROR_MESSAGES_KO = {
    TIMEOUT: "Context7 API 호출 시간 초과",
    API_FAILURE: "Context7 서비스 일시적 장애",
    RATE_LIMITED: "Context7 API 호출 한도 초과",
    UNAUTHORIZED: "Context7 API 인증 실패",
    LIBRARY_NOT_FOUND: "Context7 문서 라이브러리를 찾을 수 없음",
    CIRCUIT_OPEN: "Context7 호출 일시 중단 (연속 장애로 회로 차단)",
}

# Words too generic to count as product relevance.
_STOP_WORDS = frozenset(
    "hs code codes hscode hsk what which is the a an of for and or to in 코드 뭐야 뭔가요 알려줘 알려 주세요 무엇 "
    "어떤 관세 품목 분류 번호".split()
)
_WORD = re.compile(r"[\w가-힣]{2,}")


# --- settings and the process-wide clients -----------------------------------
def context7_enabled() -> bool:
    return bool(getattr(settings, "CONTEXT7_LIBRARY_ID", "") or getattr(settings, "CONTEXT7_LIBRARY_NAME", ""))


def build_config() -> Context7Config:
    """The client configuration, from the CONTEXT7_* settings (docs/context7.md)."""
    s = settings
    return Context7Config(
        base_url=s.CONTEXT7_API_URL,
        api_key=s.CONTEXT7_API_KEY,
        budget_s=float(s.CONTEXT7_BUDGET_S),
        connect_timeout_s=float(s.CONTEXT7_CONNECT_TIMEOUT_S),
        read_timeout_s=float(s.CONTEXT7_READ_TIMEOUT_S),
        retry=RetryConfig(
            attempts=int(s.CONTEXT7_RETRY_ATTEMPTS),
            wait_initial_s=float(getattr(s, "CONTEXT7_RETRY_WAIT_INITIAL_S", 0.1)),
            wait_max_s=float(getattr(s, "CONTEXT7_RETRY_WAIT_MAX_S", 0.5)),
            wait_jitter_s=float(getattr(s, "CONTEXT7_RETRY_JITTER_S", 0.1)),
        ),
        breaker=BreakerConfig(
            enabled=bool(getattr(s, "CONTEXT7_BREAKER_ENABLED", True)),
            fail_max=int(s.CONTEXT7_BREAKER_FAIL_MAX),
            reset_timeout_s=float(s.CONTEXT7_BREAKER_RESET_S),
        ),
        cache=CacheConfig(
            enabled=bool(getattr(s, "CONTEXT7_CACHE_ENABLED", True)),
            ttl_s=int(s.CONTEXT7_CACHE_TTL_S),
            empty_ttl_s=int(getattr(s, "CONTEXT7_CACHE_EMPTY_TTL_S", 300)),
        ),
        redis_url=getattr(s, "CONTEXT7_REDIS_URL", "") or s.REDIS_URL or None,
        redis_prefix=getattr(s, "CONTEXT7_REDIS_PREFIX", "tradechat:context7"),
    )


_lock = threading.Lock()
_client: Context7Client | None = None
_async_client: AsyncContext7Client | None = None
_library_ids: dict[tuple[str, str], str] = {}


def get_client() -> Context7Client:
    """The process-wide blocking client (rebuilt when CONTEXT7_* settings change or after fork)."""
    global _client
    with _lock:
        if _client is None:
            _client = Context7Client(build_config())
        return _client


def get_async_client() -> AsyncContext7Client:
    global _async_client
    with _lock:
        if _async_client is None:
            _async_client = AsyncContext7Client(build_config())
        return _async_client


def reset_clients(*, close: bool = True) -> None:
    """Drop the process-wide clients and the resolved library IDs."""
    global _client, _async_client
    with _lock:
        client, _client, _async_client = _client, None, None
        _library_ids.clear()
    if client is not None and close:
        try:
            client.close()
        except Exception:  # closing must never fail a caller
            logger.debug("closing the Context7 client failed", exc_info=True)


def _on_setting_changed(setting: str, **kwargs: Any) -> None:
    if setting.startswith("CONTEXT7_") or setting == "REDIS_URL":
        reset_clients()


def _forget_after_fork() -> None:
    """In a forked child (Celery prefork): drop the parent's clients and sockets without
    touching them, and replace the lock, which another parent thread may have held."""
    global _client, _async_client, _lock
    _lock = threading.Lock()
    _client = _async_client = None
    _library_ids.clear()


setting_changed.connect(_on_setting_changed, dispatch_uid="hscode.context7_consult.reset_clients")
os.register_at_fork(after_in_child=_forget_after_fork)


# --- outcome -------------------------------------------------------------------
@dataclass
class Context7Outcome:
    candidates: list[dict[str, Any]]
    analysis: dict[str, Any]
    error: Context7Error | None = None
    cache_hit: bool = False  # the documentation came from the Redis cache
    calls: int = 0  # HTTP calls made
    latency_ms: int = 0
    library_id: str | None = None
    snippet_count: int = 0
    findings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def fallback_used(self) -> bool:
        return self.error is not None


@dataclass(frozen=True)
class _Call:
    method: str  # "resolve_library_id" | "get_library_docs"
    kwargs: dict[str, Any]


def context7_consult(
    product_name: str, question: str, local_candidates: list[dict], budget_s: float | None = None
) -> Context7Outcome:
    """Consult Context7 (blocking). Never raises; see the module docstring.

    `budget_s` caps the lookup below CONTEXT7_BUDGET_S: the caller passes what is left of the
    person's overall wait (time spent queued counts), so a backlog never stretches it.
    """
    started = time.monotonic()
    try:
        flow = _consult_flow(product_name, question, local_candidates, started, budget_s)
        send: Any = None
        throw: Context7Error | None = None
        while True:
            try:
                call = flow.throw(throw) if throw is not None else flow.send(send)
            except StopIteration as stop:
                return stop.value
            send, throw = None, None
            try:
                send = getattr(get_client(), call.method)(**call.kwargs)
            except Context7Error as error:
                throw = error
    except Exception as exc:  # never raise into the detail-page task
        logger.exception("context7_consult failed unexpectedly")
        return _unexpected(exc, local_candidates, started)


async def acontext7_consult(
    product_name: str, question: str, local_candidates: list[dict], budget_s: float | None = None
) -> Context7Outcome:
    """Same as context7_consult, on the async client."""
    started = time.monotonic()
    try:
        flow = _consult_flow(product_name, question, local_candidates, started, budget_s)
        send: Any = None
        throw: Context7Error | None = None
        while True:
            try:
                call = flow.throw(throw) if throw is not None else flow.send(send)
            except StopIteration as stop:
                return stop.value
            send, throw = None, None
            try:
                send = await getattr(get_async_client(), call.method)(**call.kwargs)
            except Context7Error as error:
                throw = error
    except Exception as exc:
        logger.exception("acontext7_consult failed unexpectedly")
        return _unexpected(exc, local_candidates, started)


def _unexpected(exc: Exception, local_candidates: list[dict], started: float) -> Context7Outcome:
    error = Context7ApiError(f"unexpected error: {type(exc).__name__}: {exc}", retryable=False)
    try:
        local = _normalise_local(local_candidates)
    except Exception:
        local = []
    return Context7Outcome(
        candidates=local,
        analysis=build_analysis([], [], None, cache_hits=0, error=error),
        error=error,
        latency_ms=_ms_since(started),
    )


def _ms_since(started: float) -> int:
    return max(0, round((time.monotonic() - started) * 1000))


# Below this much time left, a lookup is not started at all.
MIN_BUDGET_S = 0.1


def _consult_flow(
    product_name: str, question: str, local_candidates: list[dict], started: float, budget_s: float | None = None
) -> Generator[_Call, Any, Context7Outcome]:
    local = _normalise_local(local_candidates)
    if not context7_enabled():
        return Context7Outcome(candidates=local, analysis=build_analysis([], [], None, cache_hits=0, error=None))
    budget = float(settings.CONTEXT7_BUDGET_S) if budget_s is None else min(float(settings.CONTEXT7_BUDGET_S), budget_s)
    deadline = started + budget
    query = " ".join(part.strip() for part in (product_name or "", question or "") if part and part.strip())
    calls: list[CallRecord] = []
    cache_hits = 0
    docs: Documentation | None = None
    error: Context7Error | None = None
    library_id = settings.CONTEXT7_LIBRARY_ID or None
    try:
        if not query:
            raise Context7ApiError("nothing to ask: product name and question are empty", retryable=False)
        if budget < MIN_BUDGET_S:
            raise Context7TimeoutError(f"no time left for a lookup ({budget:.2f} s of the wait remained)")
        if library_id is None:
            memo_key = (settings.CONTEXT7_API_URL, settings.CONTEXT7_LIBRARY_NAME)
            library_id = _library_ids.get(memo_key)
            if library_id is None:
                search: LibrarySearch = yield _Call(
                    "resolve_library_id",
                    {
                        "library_name": settings.CONTEXT7_LIBRARY_NAME,
                        "query": query,
                        "budget_s": deadline - time.monotonic(),
                    },
                )
                calls += search.calls
                cache_hits += int(search.cache_hit)
                library_id = search.library_id
                _library_ids[memo_key] = library_id
        docs = yield _Call(
            "get_library_docs", {"library_id": library_id, "query": query, "budget_s": deadline - time.monotonic()}
        )
        calls += docs.calls
        cache_hits += int(docs.cache_hit)
    except Context7Error as exc:
        error = exc
        calls += exc.calls
        logger.warning("Context7 consultation failed, using local candidates: %s", exc)

    findings = find_hs_codes(docs, product_name, question) if docs is not None else []
    candidates = merge_candidates(local, findings)
    analysis = build_analysis(calls, findings, docs, cache_hits=cache_hits, error=error, local=local)
    return Context7Outcome(
        candidates=candidates,
        analysis=analysis,
        error=error,
        cache_hit=bool(docs is not None and docs.cache_hit),
        calls=len(calls),
        latency_ms=_ms_since(started),
        library_id=library_id,
        snippet_count=len(docs.snippets) if docs is not None else 0,
        findings=findings,
    )


# --- extraction ------------------------------------------------------------------
def _words(text: str) -> set[str]:
    return {w.casefold() for w in _WORD.findall(text)} - _STOP_WORDS


def _dotted(code: str) -> str:
    return f"{code[:4]}.{code[4:]}" if len(code) == 6 else code


def find_hs_codes(docs: Documentation | None, product_name: str = "", question: str = "") -> list[dict[str, Any]]:
    """HS codes named in the snippets, with context and a Context7 confidence, in order of first mention.

    Each item: {"code": "8517.13", "level": 6, "confidence": 0.75, "mentions": n, "snippets": n,
    "title": first snippet title, "source": its URL, "context": text around the first mention}.
    """
    if docs is None:
        return []
    relevance_words = _words(f"{product_name} {question}")
    found: dict[str, dict[str, Any]] = {}
    for index, snippet in enumerate(docs.snippets):
        text = snippet.text
        for mention in extract_codes(text):
            if not mention.valid or mention.level not in (4, 6) or mention.notation == "bare":
                continue
            start, end = mention.span
            context = re.sub(r"\s+", " ", text[max(0, start - CONTEXT_CHARS) : end + CONTEXT_CHARS]).strip()
            entry = found.get(mention.code)
            if entry is None:
                entry = found[mention.code] = {
                    "code": _dotted(mention.code),
                    "level": mention.level,
                    "mentions": 0,
                    "_snippets": set(),
                    "title": snippet.title,
                    "source": snippet.source,
                    "context": context,
                    "_relevant": False,
                }
            entry["mentions"] += 1
            entry["_snippets"].add(index)
            if relevance_words & (_words(context) | _words(snippet.title)):
                entry["_relevant"] = True
    findings = []
    for entry in found.values():
        base = SUBHEADING_BASE if entry["level"] == 6 else HEADING_BASE
        support = min(SUPPORT_MAX, SUPPORT_STEP * (len(entry["_snippets"]) - 1))
        confidence = min(CONTEXT7_MAX, base + support + (RELEVANCE_BONUS if entry["_relevant"] else 0.0))
        entry["snippets"] = len(entry.pop("_snippets"))
        entry["relevant"] = entry.pop("_relevant")
        entry["confidence"] = round(confidence, 3)
        findings.append(entry)
    return findings


# --- merging --------------------------------------------------------------------
def _code_digits(code: Any) -> str:
    digits = re.sub(r"\D", "", str(code or ""))
    return digits[:6]


def _normalise_local(local_candidates: list[dict] | None) -> list[dict[str, Any]]:
    """Copies of the local candidates (extra keys kept), with a source and a float confidence; best per code."""
    best: dict[str, dict[str, Any]] = {}
    for candidate in local_candidates or []:
        if not isinstance(candidate, dict) or not _code_digits(candidate.get("code")):
            continue
        item = dict(candidate)
        try:
            item["confidence"] = max(0.0, min(1.0, float(item.get("confidence") or 0.0)))
        except (TypeError, ValueError):
            item["confidence"] = 0.0
        item["source"] = item.get("source") or "local"
        key = _code_digits(item["code"])
        if key not in best or item["confidence"] > best[key]["confidence"]:
            best[key] = item
    return sorted(best.values(), key=lambda c: (-c["confidence"], str(c["code"])))


def _noisy_or(a: float, b: float) -> float:
    return min(MERGED_MAX, 1 - (1 - a) * (1 - b))


def merge_candidates(local: list[dict[str, Any]], findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Apply the merge rule of the module docstring. `local` as returned by _normalise_local."""
    by_code = {_code_digits(f["code"]): f for f in findings}
    used: set[str] = set()
    merged: list[dict[str, Any]] = []
    for candidate in local:
        item = dict(candidate)
        key = _code_digits(item["code"])
        exact = by_code.get(key) if len(key) == 6 else None
        if exact is not None:
            used.add(key)
            item["local_source"] = item["source"]
            item["source"] = "local+context7"
            item["context7_confidence"] = exact["confidence"]
            item["context7_context"] = exact["context"]
            item["confidence"] = _noisy_or(item["confidence"], exact["confidence"])
        else:
            heading = [
                f
                for code, f in by_code.items()
                if code[:4] == key[:4] and len(key) >= 4 and (len(code) == 4 or code != key)
            ]
            if heading:
                best = max(heading, key=lambda f: f["confidence"])
                item["context7_support"] = "heading"
                item["context7_confidence"] = best["confidence"]
                item["context7_context"] = best["context"]
                item["confidence"] = _noisy_or(item["confidence"], best["confidence"] / 2)
        item["confidence"] = round(item["confidence"], 3)
        merged.append(item)
    for key, finding in by_code.items():
        if len(key) != 6 or key in used:
            continue
        merged.append(
            {
                "code": finding["code"],
                "confidence": round(min(finding["confidence"], CONTEXT7_ONLY_MAX), 3),
                "description": finding["title"],
                "source": "context7",
                "context": finding["context"],
                "reference": finding["source"],
            }
        )
    merged.sort(key=lambda c: (-c["confidence"], str(c["code"])))
    return merged


# --- seed 002 shapes ---------------------------------------------------------------
def build_analysis(
    calls: list[CallRecord],
    findings: list[dict[str, Any]],
    docs: Documentation | None,
    *,
    cache_hits: int,
    error: Context7Error | None,
    local: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The `chat_messages.context7_analysis` dict of seed 002."""
    records = [record.to_dict() for record in calls]
    failed = sum(1 for record in calls if not record.success)
    error_count = failed + (1 if error is not None and not any(not r.success for r in calls) else 0)
    if calls:
        success_rate = round((len(calls) - failed) / len(calls), 3)
    else:
        success_rate = 0.0 if error is not None else 1.0
    tokens = sum(int(r.output.get("total_tokens") or 0) for r in calls if r.success and r.function == GET_LIBRARY_DOCS)
    snippets = docs.snippets if docs is not None else ()
    relevant = 0
    if snippets:
        finding_codes = {_code_digits(f["code"]) for f in findings}
        for snippet in snippets:
            codes = {m.code for m in extract_codes(snippet.text) if m.valid and m.notation != "bare"}
            if codes & finding_codes:
                relevant += 1
    return {
        "api_calls": records,
        "analysis_results": {
            "hscode_patterns_found": [f["code"] for f in findings],
            "context7_confidence": max((f["confidence"] for f in findings), default=0.0),
            "documentation_relevance": round(relevant / len(snippets), 3) if snippets else 0.0,
            "extracted_insights": _insights(findings, local or []),
        },
        "performance": {
            "total_api_calls": len(records),
            "total_duration_ms": sum(r.duration_ms for r in calls),
            "success_rate": success_rate,
            "tokens_consumed": tokens,
            "cache_hits": cache_hits,
            "error_count": error_count,
        },
    }


def _insights(findings: list[dict[str, Any]], local: list[dict[str, Any]]) -> list[str]:
    local_codes = {_code_digits(c["code"]): c for c in local}
    insights = []
    for finding in findings:
        if finding["level"] != 6:
            continue
        title = finding["title"] or "Context7 문서"
        line = f"「{title}」 문서에서 HS {finding['code']} 확인"
        match = local_codes.get(_code_digits(finding["code"]))
        if match is not None:
            before = match["confidence"]
            after = _noisy_or(before, finding["confidence"])
            line += f" (로컬 후보와 일치, 신뢰도 {before:.2f} → {after:.2f})"
        insights.append(line)
        if len(insights) >= MAX_INSIGHTS:
            break
    return insights


def context7_error_event_data(error: BaseException | None, partial: dict | None = None) -> dict[str, Any]:
    """`data` of a seed 002 `detail_page_buttons_error` event for a Context7 failure."""
    if not isinstance(error, Context7Error):
        error = Context7ApiError(f"{type(error).__name__}: {error}" if error else "unknown error", retryable=False)
    reset_s = float(getattr(settings, "CONTEXT7_BREAKER_RESET_S", 30))
    if error.retry_after is not None:
        retry_after: int | None = max(0, math.ceil(error.retry_after))
    else:
        retry_after = None
    hint = retry_after if retry_after is not None else (math.ceil(reset_s) if error.retryable else 0)
    if error.code in (UNAUTHORIZED, LIBRARY_NOT_FOUND) or not error.retryable:
        recovery = "operator action required"
    elif hint and hint <= 90:
        recovery = f"< {hint} seconds"
    elif hint:
        recovery = f"< {math.ceil(hint / 60)} minutes"
    else:
        recovery = "< 5 minutes"
    return contracts.context7_error_data(
        error_code=error.code,
        error_message=ERROR_MESSAGES_KO.get(error.code, ERROR_MESSAGES_KO[API_FAILURE]),
        timestamp=utc_timestamp(),
        api_endpoint=error.endpoint or GET_LIBRARY_DOCS,
        http_status=error.http_status,
        retry_after=retry_after,
        retryable=error.retryable,
        retry_hint_s=hint,
        max_retries=int(getattr(settings, "CONTEXT7_RETRY_ATTEMPTS", 3)),
        expected_recovery=recovery,
        partial_results=partial,
    )
