"""Data editions: a generation counter per data source, kept in Redis and bumped after each committed write.

Caches of data derived from these sources (hscode/cache.py) put the editions they were built from into their
keys, so an import or refresh that changes a code's data makes every entry built before it unreachable: nothing
is deleted and nothing stale is served; old entries expire by their TTL.

Sources written in bulk (the HSK table, the 관세율표, imported trade statistics) have one counter each. Sources
written per code by live lookups (세관장확인대상 requirements, nitemtrade months) have a counter per HS6 as well,
so one fetched code does not invalidate every other code's entries.

A counter that is missing (first use, Redis flushed or the key evicted) starts at the current time in
nanoseconds, never at 0, so a lost counter cannot come back at a value an old entry was keyed with.
"""

from __future__ import annotations

import time

from django.core.cache import cache
from django.db import transaction

HSK, TARIFF, TRADE, REQUIREMENTS = "hsk", "tariff", "trade", "requirements"
SOURCES = (HSK, TARIFF, TRADE, REQUIREMENTS)
PER_CODE_SOURCES = (TRADE, REQUIREMENTS)  # also counted per HS6 (live lookups write one code at a time)

_PREFIX = "edition:"


def _key(source: str, hs6: str = "") -> str:
    if source not in SOURCES:
        raise ValueError(f"unknown data source {source!r}")
    return f"{_PREFIX}{source}:{hs6}" if hs6 else f"{_PREFIX}{source}"


def _start() -> int:
    return time.time_ns()


def editions_for(hs6: str) -> dict[str, int]:
    """The current editions that data about `hs6` (an HS6, or "" for the global ones only) comes from."""
    keys = [_key(source) for source in SOURCES]
    if hs6:
        keys += [_key(source, hs6[:6]) for source in PER_CODE_SOURCES]
    values = cache.get_many(keys)
    missing = [key for key in keys if key not in values]
    if missing:
        for key in missing:
            cache.add(key, _start(), timeout=None)
        values.update(cache.get_many(missing))
    return {key.removeprefix(_PREFIX): int(values[key]) for key in keys}


def _bump_now(key: str) -> None:
    if cache.add(key, _start(), timeout=None):
        return
    try:
        cache.incr(key)
    except ValueError:  # expired or evicted between add and incr
        cache.add(key, _start(), timeout=None)


def edition_bump(source: str, hs6: str = "") -> None:
    """Announce new data of `source` (for one HS6, or all of it): after the surrounding transaction commits, so
    a reader never keys an entry with the new edition while it can still read the old rows."""
    key = _key(source, hs6[:6])
    transaction.on_commit(lambda: _bump_now(key))
