"""Typed results. Every `from_json` tolerates missing optional fields and ignores unknown ones."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

RESOLVE_LIBRARY_ID = "resolve_library_id"
GET_LIBRARY_DOCS = "get_library_docs"


def utc_timestamp(moment: datetime | None = None) -> str:
    """ISO 8601 in UTC with milliseconds and a Z: 2024-01-15T10:30:01.234Z."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _str(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


@dataclass(frozen=True, slots=True)
class Library:
    """One result of /v2/libs/search."""

    id: str
    title: str = ""
    description: str = ""
    branch: str = ""
    last_update_date: str | None = None
    state: str = ""
    total_tokens: int | None = None
    total_snippets: int | None = None  # -1 upstream means unknown; kept as given
    stars: int | None = None
    trust_score: float | None = None
    benchmark_score: float | None = None
    versions: tuple[str, ...] = ()
    source: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> Library | None:
        if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
            return None
        versions = data.get("versions")
        return cls(
            id=data["id"],
            title=_str(data.get("title")) or _str(data.get("name")),
            description=_str(data.get("description")),
            branch=_str(data.get("branch")),
            last_update_date=data.get("lastUpdateDate") if isinstance(data.get("lastUpdateDate"), str) else None,
            state=_str(data.get("state")),
            total_tokens=_int(data.get("totalTokens")),
            total_snippets=_int(data.get("totalSnippets")),
            stars=_int(data.get("stars")),
            trust_score=_float(data.get("trustScore")),
            benchmark_score=_float(data.get("benchmarkScore")),
            versions=tuple(v for v in versions if isinstance(v, str)) if isinstance(versions, list) else (),
            source=data.get("source") if isinstance(data.get("source"), str) and data.get("source") else None,
        )


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One HTTP call, in the shape of seed 002 `context7_analysis.api_calls[]`."""

    function: str  # "resolve_library_id" | "get_library_docs"
    input: dict[str, Any]
    output: dict[str, Any]
    duration_ms: int
    success: bool
    timestamp: str  # start of the call, ISO 8601 UTC with ms and Z

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "input": dict(self.input),
            "output": dict(self.output),
            "duration_ms": self.duration_ms,
            "success": self.success,
            "timestamp": self.timestamp,
        }


@dataclass(frozen=True, slots=True)
class LibrarySearch:
    """Result of a library search. `calls` are the HTTP calls made (empty on a cache hit)."""

    library_name: str
    query: str | None
    results: tuple[Library, ...] = ()
    search_filter_applied: bool = False
    cache_hit: bool = False
    calls: tuple[CallRecord, ...] = ()

    @property
    def best(self) -> Library | None:
        """The library to use: an exact title/name match among usable ones, else the first usable one.

        The API already ranks results; "usable" means finalized (or with no state given).
        """
        usable = [lib for lib in self.results if lib.state in ("", "finalized")] or list(self.results)
        if not usable:
            return None
        wanted = _normalise_name(self.library_name)
        for lib in usable:
            if _normalise_name(lib.title) == wanted or _normalise_name(lib.id.rsplit("/", 1)[-1]) == wanted:
                return lib
        return usable[0]

    @property
    def library_id(self) -> str | None:
        best = self.best
        return best.id if best else None


def _normalise_name(name: str) -> str:
    return re.sub(r"[\s._-]+", "", name.casefold())


@dataclass(frozen=True, slots=True)
class CodeBlock:
    language: str
    code: str


@dataclass(frozen=True, slots=True)
class Snippet:
    """One documentation entry: a code snippet, an info snippet, or (v1) a Q&A entry."""

    title: str = ""
    source: str = ""
    body: str = ""  # description / content, markdown, fences removed
    code_blocks: tuple[CodeBlock, ...] = ()
    kind: str = "info"  # "code" | "info" | "qa"
    tokens: int | None = None

    @property
    def text(self) -> str:
        """Everything searchable: title, body and code."""
        parts = [self.title, self.body, *(block.code for block in self.code_blocks)]
        return "\n".join(part for part in parts if part)


@dataclass(frozen=True, slots=True)
class Documentation:
    """Result of /v2/context. `format` is "v2-text", "v1-text", "json" or "empty"."""

    library_id: str
    query: str
    snippets: tuple[Snippet, ...] = ()
    format: str = "empty"
    total_tokens: int = 0
    tokens_estimated: bool = True  # True when counted from text length, not given by the API
    relevant_snippets: int = 0  # snippets sharing at least one word with the query
    rules: dict[str, tuple[str, ...]] = field(default_factory=dict)
    raw: str = ""
    cache_hit: bool = False
    calls: tuple[CallRecord, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.snippets
