"""The caches of finished detail-page work, and their hit and miss counters (seed 001, Day 9).

* ``question``: a normalised question → its analysis and buttons. Serves identical repeats only, without
  analysing again. Keyed by the text, the analysis version and the case index (a new case can change which code
  a text resolves to); an entry also remembers the data editions of its code and is a miss once they changed.
* ``code_buttons``: an HS code (as displayed, national digits included) and the question's language → the
  code's three button payloads. Shared by every question that resolves to that code, whatever its wording.
  Keyed by the analysis version, the connected live services and the data editions of the code
  (customs/editions.py), so an import or refresh that changes the code's data is never served from here.
* ``detail_page``: a part of a code's detail pages (the statistics report, the statistics availability) → its
  data, keyed by the code, a variant (the period) and the code's data editions; shared by both languages.

Nothing from an error is stored: the callers put an entry only for a completed message whose Context7 lookup did
not fail (hscode/services.py), and the live customs clients never cache a failed answer (kcs/client.py).

Hits and misses are counted in Redis (``cache-stats:<name>``), because they happen in the Celery workers and
/metrics is served by daphne (ops/metrics.py reads them).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import unicodedata
from collections.abc import Callable
from typing import TypeVar

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from customs.editions import editions_for, redis_client
from customs.live_services import requirements_service
from trade.live import nitemtrade_connected

logger = logging.getLogger(__name__)
T = TypeVar("T")

QUESTION, CODE_BUTTONS, DETAIL_PAGE = "question", "code_buttons", "detail_page"
CACHES = (QUESTION, CODE_BUTTONS, DETAIL_PAGE)
_STATS = "tradechat:cache-stats:"


def _enabled() -> bool:
    return settings.DETAIL_CACHE_TTL_S > 0


def _digest(parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


# --- counters ------------------------------------------------------------------------------------------------


def _stats_key(name: str, kind: str) -> str:
    return f"{_STATS}{name}:{kind}"


def cache_count(name: str, *, hit: bool) -> None:
    """One hit or miss of cache `name` (one INCR; a failure to count never fails the lookup)."""
    try:
        redis_client().incr(_stats_key(name, "hits" if hit else "misses"))
    except redis.RedisError:
        logger.warning("cache %s: could not count a %s", name, "hit" if hit else "miss")


def cache_stats() -> dict[str, dict[str, int]]:
    """{cache name: {"hits": n, "misses": n}} since Redis started (counters never expire)."""
    keys = [(name, kind) for name in CACHES for kind in ("hits", "misses")]
    values = redis_client().mget([_stats_key(name, kind) for name, kind in keys])
    out: dict[str, dict[str, int]] = {name: {} for name in CACHES}
    for (name, kind), value in zip(keys, values, strict=True):
        out[name][kind] = int(value or 0)
    return out


# --- per question --------------------------------------------------------------------------------------------


def normalised_question(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split()).strip(" ?!.。？！")


def question_key(text: str, *, analysis_version: str, case_index: tuple) -> str:
    """A hash of the normalised question (never the person's text) and of what its analysis depends on."""
    return "detail-page:" + _digest([normalised_question(text), analysis_version, list(case_index)])


def question_get(key: str) -> dict | None:
    """The entry of a repeated question, unless its code's data changed since it was stored."""
    if not _enabled():
        return None
    entry = cache.get(key)
    if entry is not None:
        resolved = (entry.get("record") or {}).get("resolved") or {}
        if entry.get("editions") != code_editions(str(resolved.get("code") or "")):
            entry = None
    cache_count(QUESTION, hit=entry is not None)
    return entry


def question_put(key: str, *, record: dict, context7_analysis: dict | None, buttons: dict, editions: dict) -> None:
    if _enabled():
        cache.set(key, {"record": record, "context7_analysis": context7_analysis, "buttons": buttons,
                        "editions": editions}, timeout=settings.DETAIL_CACHE_TTL_S)


# --- per HS code ---------------------------------------------------------------------------------------------


def code_editions(code: str) -> dict:
    """What a code's button payloads depend on besides the code: the data editions and the live services."""
    return {"data": editions_for(code[:6]), "requirements_service": requirements_service() or "",
            "nitemtrade": nitemtrade_connected()}


def code_buttons_key(display: str, language: str, *, analysis_version: str, editions: dict) -> str:
    return "code-buttons:" + _digest([display, language, analysis_version, editions])


def code_buttons_get(key: str) -> dict | None:
    """{button type: payload} of the code, or None (counted as a hit or a miss)."""
    if not _enabled():
        return None
    entry = cache.get(key)
    cache_count(CODE_BUTTONS, hit=entry is not None)
    return entry


def code_buttons_put(key: str, buttons: dict) -> None:
    if _enabled():
        cache.set(key, buttons, timeout=settings.DETAIL_CACHE_TTL_S)


# --- detail-page data per HS code ----------------------------------------------------------------------------


def detail_page_data(part: str, code: str, compute: Callable[[], T], *, variant: str = "") -> T:
    """`compute()` once per page part, code, variant (a period, …) and data editions of the code, shared by every
    request for the code's pages in any language (the data is the same; the templates translate). An exception
    from `compute()` propagates and stores nothing."""
    if not _enabled():
        return compute()
    try:
        key = "detail-page-data:" + _digest([part, code, variant, code_editions(code)])  # editions before the data
        cached = cache.get(key)
    except redis.RedisError:
        logger.warning("detail-page data cache unavailable", exc_info=True)
        return compute()
    cache_count(DETAIL_PAGE, hit=cached is not None)
    if cached is not None:
        return cached
    value = compute()
    cache.set(key, value, timeout=settings.DETAIL_CACHE_TTL_S)
    return value


# --- the case index's key ------------------------------------------------------------------------------------

# Reading the case index's key takes two aggregates over the 35,000 cases (tens of milliseconds of PostgreSQL a
# message). It changes only when cases are written, so it is kept in Redis beside a generation that every write of
# cases bumps once it commits; every other process then reads the committed rows. The writer's own transaction,
# until then, reads the key from the database (its writes are visible only to itself). A key stored under an
# older generation is never used.
_CASES_GENERATION = "tradechat:case-index:generation"
_CASES_KEY = "tradechat:case-index:key"
CASE_INDEX_KEY_TTL_S = 3600


def _case_generation_bump() -> None:
    try:
        redis_client().incr(_CASES_GENERATION)
    except redis.RedisError:  # the stored key expires by its TTL; until then the change is read late
        logger.error("case index key: could not mark the cases changed", exc_info=True)


def _cases_written_in_this_transaction() -> bool:
    connection = transaction.get_connection()
    return any(callback is _case_generation_bump for _sids, callback, _robust in connection.run_on_commit)


def case_index_changed(**_signal) -> None:
    """Cases were written (imported, reviewed, edited or deleted: hscode/apps.py connects it to every save and
    delete of a case): once this transaction commits, the next reader computes the key again. Registered once per
    transaction, however many rows it writes."""
    if not _cases_written_in_this_transaction():
        transaction.on_commit(_case_generation_bump)


def case_index_key_cached(compute: Callable[[], tuple]) -> tuple:
    """The case index's key: one Redis round trip, or `compute()` when the cases changed (or Redis fails)."""
    if _cases_written_in_this_transaction():
        return compute()
    client = redis_client()
    try:
        generation, stored = client.mget([_CASES_GENERATION, _CASES_KEY])
        if generation is None:  # first use, or Redis lost it: never a value an old key was stored under
            client.set(_CASES_GENERATION, time.time_ns(), nx=True)
            generation = client.get(_CASES_GENERATION)
    except redis.RedisError:
        logger.warning("case index key: Redis unavailable, read from the database", exc_info=True)
        return compute()
    if stored is not None:
        entry = json.loads(stored)
        if entry["generation"] == int(generation):
            return tuple(entry["key"])
    key = compute()  # read after the generation: a write committed meanwhile has bumped it past this entry
    try:
        client.set(_CASES_KEY, json.dumps({"generation": int(generation), "key": list(key)}), ex=CASE_INDEX_KEY_TTL_S)
    except redis.RedisError:
        logger.warning("case index key: could not store it", exc_info=True)
    return key
