"""Data editions: a generation counter per data source, kept in Redis and bumped after each committed write.

Caches of data derived from these sources (hscode/cache.py) put the editions they were built from into their
keys, so an import or refresh that changes a code's data makes every entry built before it unreachable: nothing
is deleted and nothing stale is served; old entries expire by their TTL.

Sources written in bulk (the HSK table, the 관세율표, imported trade statistics) have one counter each. Sources
written per code by live lookups (세관장확인대상 requirements, nitemtrade months) have a counter per HS6 as well,
so one fetched code does not invalidate every other code's entries.

A counter that is missing (first use, Redis flushed or the key evicted) starts at the current time in
nanoseconds, never at 0, so a lost counter cannot come back at a value an old entry was keyed with.
Plain Redis commands (one round trip to read all of a code's editions, one to bump), not the Django cache API,
whose incr costs three.
"""

from __future__ import annotations

import time

import redis
from django.conf import settings
from django.db import transaction

HSK, TARIFF, TRADE, REQUIREMENTS = "hsk", "tariff", "trade", "requirements"
SOURCES = (HSK, TARIFF, TRADE, REQUIREMENTS)
PER_CODE_SOURCES = (TRADE, REQUIREMENTS)  # also counted per HS6 (live lookups write one code at a time)

_PREFIX = "tradechat:edition:"
_clients: dict[str, redis.Redis] = {}


def redis_client() -> redis.Redis:
    """One client per Redis URL and process, shared by the editions and the caches keyed by them."""
    url = settings.REDIS_URL
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    return client


def _key(source: str, hs6: str = "") -> str:
    if source not in SOURCES:
        raise ValueError(f"unknown data source {source!r}")
    return f"{_PREFIX}{source}:{hs6}" if hs6 else f"{_PREFIX}{source}"


def editions_for(hs6: str) -> dict[str, int]:
    """The current editions that data about `hs6` (an HS6, or "" for the global ones only) comes from."""
    keys = [_key(source) for source in SOURCES]
    if hs6:
        keys += [_key(source, hs6[:6]) for source in PER_CODE_SOURCES]
    client = redis_client()
    values = client.mget(keys)
    if any(value is None for value in values):
        with client.pipeline(transaction=False) as pipe:
            for key, value in zip(keys, values, strict=True):
                if value is None:
                    pipe.set(key, time.time_ns(), nx=True)
            pipe.mget(keys)
            values = pipe.execute()[-1]
    return {key.removeprefix(_PREFIX): int(value) for key, value in zip(keys, values, strict=True)}


def _bump_now(key: str) -> None:
    with redis_client().pipeline(transaction=False) as pipe:
        pipe.set(key, time.time_ns(), nx=True)  # a missing counter starts at the time, never at 1
        pipe.incr(key)
        pipe.execute()


def edition_bump(source: str, hs6: str = "") -> None:
    """Announce new data of `source` (for one HS6, or all of it): now, and again after the surrounding transaction
    commits. The second bump is the one that matters: a reader that keyed an entry with the first while it could
    still read the old rows stored it under an edition nobody reads after the commit. The first one covers a
    transaction that is rolled back after readers inside it saw its rows (a test's)."""
    key = _key(source, hs6[:6])
    _bump_now(key)
    transaction.on_commit(lambda: _bump_now(key))


def editions_renew() -> None:
    """A new edition of every source: every cached entry becomes unreachable (tests start with this; an operator
    can after changing data by hand, outside the importers)."""
    for source in SOURCES:
        _bump_now(_key(source))
