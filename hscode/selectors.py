"""Reads for the hscode app: the process-cached CaseIndex built from ClassificationCase rows."""

from __future__ import annotations

import threading

from django.db.models import Count, Max

from hscode.analysis.cases import Case, CaseIndex

from .models import ClassificationCase

_lock = threading.Lock()
_cached: dict[str, object] = {"key": None, "index": None}


def case_index_key() -> tuple[int, int]:
    """(row count, highest id): changes whenever a case is added or deleted."""
    stats = ClassificationCase.objects.aggregate(n=Count("id"), top=Max("id"))
    return stats["n"] or 0, stats["top"] or 0


def case_index_get() -> CaseIndex | None:
    """The CaseIndex over all labelled cases, rebuilt when the table changed; None when it is empty.

    One index per process; building it costs a single pass over the table, so
    callers on the request path may call this on every message.
    """
    key = case_index_key()
    if key[0] == 0:
        return None
    if _cached["key"] == key:
        return _cached["index"]  # type: ignore[return-value]
    with _lock:
        if _cached["key"] != key:
            rows = ClassificationCase.objects.order_by("id").values_list(
                "text", "hs6", "source", "reference_id", "decision_date", "hsk10"
            )
            _cached["index"] = CaseIndex(
                Case(text, hs6, source, reference_id, decision_date.isoformat() if decision_date else "", hsk10)
                for text, hs6, source, reference_id, decision_date, hsk10 in rows.iterator(chunk_size=2000)
            )
            _cached["key"] = key
    return _cached["index"]  # type: ignore[return-value]


def case_index_clear() -> None:
    with _lock:
        _cached["key"] = None
        _cached["index"] = None
