"""Reads for the detail pages (HS code, regulation) that do not belong to the analysis pipeline."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from conversations.contracts import HscodeAnalysisRecord
from conversations.models import ChatMessage

# The 27 EU member states (ISO 3166-1 alpha-2; Greece also as the EU's "EL"). An EU regulation
# applies in each of them; the EEA states and Switzerland are not listed because the standards'
# reference data (hscode/data/regulations.json) names the EU only.
EU_MEMBER_STATES = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR EL HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split()
)
_COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True, slots=True)
class RecentQuestion:
    id: int
    conversation_id: str
    content: str
    detected_hscode: str
    confidence: float | None
    status: str
    created_at: datetime


def recent_questions_for_code(dotted: str, *, limit: int = 10) -> list[RecentQuestion]:
    """The latest user messages whose stored analysis detected this code or a code under it.

    `dotted` is the customary form ("85", "8517", "8517.13"); detected codes are stored the same
    way ("8517.13", "8517.13-0000"), so a prefix match finds the code and everything below it.
    """
    rows = (
        ChatMessage.objects.filter(
            role=ChatMessage.Role.USER, hscode_analysis__detected_hscode__startswith=dotted
        )
        .order_by("-created_at", "-id")
        .values("id", "conversation_id", "content", "hscode_analysis", "status", "created_at")[:limit]
    )
    questions = []
    for row in rows:
        analysis = HscodeAnalysisRecord.parse(row["hscode_analysis"]) or HscodeAnalysisRecord()
        confidence = analysis.classification_confidence if row["hscode_analysis"] else None
        questions.append(
            RecentQuestion(
                id=row["id"],
                conversation_id=str(row["conversation_id"]),
                content=row["content"],
                detected_hscode=str(analysis.detected_hscode or ""),
                confidence=float(confidence) if isinstance(confidence, int | float) else None,
                status=row["status"],
                created_at=row["created_at"],
            )
        )
    return questions


def normalize_country(raw: str | None) -> tuple[str, bool]:
    """('ALL' | 'EU' | a two-letter code, recognised?). Unrecognised input falls back to ALL."""
    text = (raw or "ALL").strip().upper()
    if text in ("", "ALL"):
        return "ALL", True
    if text == "EU" or _COUNTRY.match(text):
        return text, True
    return "ALL", False


def jurisdiction_covers(jurisdictions: tuple[str, ...], country: str) -> bool:
    """Whether a standard of these jurisdictions applies in `country` ('ALL' matches everything)."""
    if country == "ALL" or country in jurisdictions:
        return True
    return "EU" in jurisdictions and country in EU_MEMBER_STATES
