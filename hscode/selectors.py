"""Reads for the hscode app: the process-cached case index built from ClassificationCase rows."""

from __future__ import annotations

import logging
import threading

from django.db import connection
from django.db.models import Count, Max, Min, QuerySet

from hscode.analysis.cases import Case, CaseIndex, CombinedCaseIndex

from .cache import case_index_key_cached
from .models import ClassificationCase

# The shipped corpora change only when load_shipped_data loads a new edition; imports and staff verdicts change
# often. Two parts, cached apart, so a staff review rebuilds only the small part (milliseconds), not the
# 35,000 shipped cases (seconds).
SHIPPED_SOURCES = (ClassificationCase.Source.KCS_NAMES, ClassificationCase.Source.KCS_RULING)

_lock = threading.Lock()
_cached: dict[str, object] = {}
# Celery workers set this (config/celery.py): a changed shipped corpus is indexed in a background thread while
# tasks go on with the index they have (or none), since building 35,000 cases takes longer under load than a
# task's soft time limit, and a build cut off there is never cached, so every task would start it again.
_background = {"enabled": False, "building": None}


def case_index_build_in_background(enabled: bool = True) -> None:
    """Index a changed shipped corpus in a background thread instead of inside the caller (Celery workers)."""
    _background["enabled"] = enabled


def _shipped_store(shipped_key: tuple, index: CaseIndex) -> None:
    """Keep the last two shipped indexes by content (under _lock): a corpus emptied and loaded again is not rebuilt."""
    shipped_indexes: dict = _cached.setdefault("shipped", {})  # type: ignore[assignment]
    if len(shipped_indexes) >= 2:
        shipped_indexes.pop(next(iter(shipped_indexes)))
    shipped_indexes[shipped_key] = index


def _shipped_build(shipped_key: tuple) -> None:
    index = _build(True)
    with _lock:
        _shipped_store(shipped_key, index)
        _background["building"] = None


def _part(shipped: bool) -> QuerySet[ClassificationCase]:
    rows = ClassificationCase.objects.all()
    return rows.filter(source__in=SHIPPED_SOURCES) if shipped else rows.exclude(source__in=SHIPPED_SOURCES)


def case_index_key() -> tuple:
    """The shipped part by its content (count, lowest and highest text hash: the same corpus loaded again keeps
    its key), the rest by (count, highest id): changes whenever a case is added or deleted. Kept in Redis between
    writes of cases (every writer calls hscode.cache.case_index_changed)."""
    return case_index_key_cached(_case_index_key_read)


def _case_index_key_read() -> tuple:
    shipped = _part(True).aggregate(n=Count("id"), low=Min("text_hash"), high=Max("text_hash"))
    rest = _part(False).aggregate(n=Count("id"), top=Max("id"))
    return (shipped["n"] or 0, shipped["low"] or "", shipped["high"] or "", rest["n"] or 0, rest["top"] or 0)


def _build(shipped: bool) -> CaseIndex:
    rows = _part(shipped).order_by("id").values_list(
        "text", "hs6", "source", "reference_id", "decision_date", "hsk10"
    )
    return CaseIndex(
        Case(text, hs6, source, reference_id, decision_date.isoformat() if decision_date else "", hsk10)
        for text, hs6, source, reference_id, decision_date, hsk10 in rows.iterator(chunk_size=2000)
    )


def case_index_get(key: tuple | None = None) -> CombinedCaseIndex | None:
    """The index over all labelled cases, rebuilt (per part) when the table changed; None when it is empty.

    One index per process; callers on the request path may call this on every message (two aggregate queries).
    A caller that already read `case_index_key()` for this message passes it (the queries are not cheap).
    """
    key = case_index_key() if key is None else key
    if key[0] == 0 and key[3] == 0:
        return None
    if _cached.get("key") == key:
        return _cached["index"]  # type: ignore[return-value]
    shipped_key = key[:3]
    if _background["enabled"] and shipped_key not in _cached.get("shipped", {}):  # type: ignore[operator]
        with _lock:
            if _background["building"] is None:
                _background["building"] = shipped_key
                threading.Thread(target=_shipped_build_quietly, args=(shipped_key,), name="case-index",
                                 daemon=True).start()
        return _cached.get("index")  # type: ignore[return-value]  # what this process had, until the build ends
    with _lock:
        if _cached.get("key") != key:
            shipped_key, rest_key = key[:3], key[3:]
            shipped_indexes: dict = _cached.setdefault("shipped", {})  # type: ignore[assignment]
            if shipped_key not in shipped_indexes:
                _shipped_store(shipped_key, _build(True))
            if _cached.get("rest_key") != rest_key:
                _cached["rest"] = _build(False)
                _cached["rest_key"] = rest_key
            _cached["index"] = CombinedCaseIndex([shipped_indexes[shipped_key], _cached["rest"]])  # type: ignore[list-item]
            _cached["key"] = key
    return _cached["index"]  # type: ignore[return-value]


def _shipped_build_quietly(shipped_key: tuple) -> None:
    try:  # on the thread's own database connection, closed when it is done
        _shipped_build(shipped_key)
    except Exception:
        logging.getLogger(__name__).exception("background case index build failed; the next task tries again")
        with _lock:
            _background["building"] = None
    finally:
        connection.close()


def case_index_clear() -> None:
    with _lock:
        _cached.clear()
