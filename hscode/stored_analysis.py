"""The classifier's TextAnalysis, stored with the message's hscode_analysis and read back by every later step.

A message is analysed once (hscode/pipeline.py); the answer, the history and a Context7 refinement that run in
another task read this stored copy instead of classifying the text again.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .analysis.analyse import Candidate, TextAnalysis
from .analysis.cases import CaseRef
from .analysis.intent import IntentResult
from .analysis.notation import CodeMention

# The key of the stored copy inside hscode_analysis (beside the seed 002 fields).
KEY = "text_analysis"


def analysis_dump(analysis: TextAnalysis) -> dict[str, Any]:
    """JSON-ready: every field of the analysis (tuples become lists)."""
    return dataclasses.asdict(analysis)


def _tuple_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """The dataclass's own fields of `data`, lists turned back into tuples (the dataclasses are frozen)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v
            for k, v in data.items() if k in names}


def _mention(data: dict[str, Any] | None) -> CodeMention | None:
    return None if data is None else CodeMention(**_tuple_fields(CodeMention, data))


def _candidate(data: dict[str, Any] | None) -> Candidate | None:
    return None if data is None else Candidate(**_tuple_fields(Candidate, data))


def analysis_load(data: dict[str, Any]) -> TextAnalysis:
    """The TextAnalysis analysis_dump stored."""
    fields = _tuple_fields(TextAnalysis, data)
    fields.update(
        mentions=tuple(_mention(m) for m in data.get("mentions") or ()),
        explicit=_mention(data.get("explicit")),
        candidates=tuple(_candidate(c) for c in data.get("candidates") or ()),
        chosen=_candidate(data.get("chosen")),
        intent=IntentResult(**_tuple_fields(IntentResult, data["intent"])),
        similar_cases=tuple(CaseRef(**_tuple_fields(CaseRef, c)) for c in data.get("similar_cases") or ()),
    )
    return TextAnalysis(**fields)


def stored_analysis(record: dict[str, Any] | None) -> TextAnalysis | None:
    """The analysis stored in a message's hscode_analysis, or None (a record written before it was kept)."""
    data = (record or {}).get(KEY)
    return analysis_load(data) if data else None
