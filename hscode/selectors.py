"""Reads for the hscode app: the process-cached case index built from ClassificationCase rows."""

from __future__ import annotations

import threading

from django.db.models import Count, Max, QuerySet

from hscode.analysis.cases import Case, CaseIndex, CombinedCaseIndex

from .models import ClassificationCase

# The shipped corpora change only when load_shipped_data loads a new edition; imports and staff verdicts change
# often. Two parts, cached apart, so a staff review rebuilds only the small part (milliseconds), not the
# 35,000 shipped cases (seconds).
SHIPPED_SOURCES = (ClassificationCase.Source.KCS_NAMES, ClassificationCase.Source.KCS_RULING)

_lock = threading.Lock()
_cached: dict[str, object] = {}


def _part(shipped: bool) -> QuerySet[ClassificationCase]:
    rows = ClassificationCase.objects.all()
    return rows.filter(source__in=SHIPPED_SOURCES) if shipped else rows.exclude(source__in=SHIPPED_SOURCES)


def case_index_key() -> tuple[int, int, int, int]:
    """(count, highest id) of the shipped part and of the rest: changes whenever a case is added or deleted."""
    key: list[int] = []
    for shipped in (True, False):
        stats = _part(shipped).aggregate(n=Count("id"), top=Max("id"))
        key += [stats["n"] or 0, stats["top"] or 0]
    return tuple(key)  # type: ignore[return-value]


def _build(shipped: bool) -> CaseIndex:
    rows = _part(shipped).order_by("id").values_list(
        "text", "hs6", "source", "reference_id", "decision_date", "hsk10"
    )
    return CaseIndex(
        Case(text, hs6, source, reference_id, decision_date.isoformat() if decision_date else "", hsk10)
        for text, hs6, source, reference_id, decision_date, hsk10 in rows.iterator(chunk_size=2000)
    )


def case_index_get() -> CombinedCaseIndex | None:
    """The index over all labelled cases, rebuilt (per part) when the table changed; None when it is empty.

    One index per process; callers on the request path may call this on every message (two aggregate queries).
    """
    key = case_index_key()
    if key[0] == 0 and key[2] == 0:
        return None
    if _cached.get("key") == key:
        return _cached["index"]  # type: ignore[return-value]
    with _lock:
        if _cached.get("key") != key:
            parts = []
            for shipped, part_key in ((True, key[:2]), (False, key[2:])):
                name = "shipped" if shipped else "rest"
                if _cached.get(name + "_key") != part_key:
                    _cached[name] = _build(shipped)
                    _cached[name + "_key"] = part_key
                parts.append(_cached[name])
            _cached["index"] = CombinedCaseIndex(parts)  # type: ignore[arg-type]
            _cached["key"] = key
    return _cached["index"]  # type: ignore[return-value]


def case_index_clear() -> None:
    with _lock:
        _cached.clear()
