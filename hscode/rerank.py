"""Optional LLM re-ranking of the local HS candidates (plain Python; an OpenAI-compatible endpoint).

When configured, the top candidates -- with their Korean and English names, their headings' texts and the
decisions the case vote leaned on -- go to the model together with the General Interpretative Rules. The model
must answer with one of the candidates and a short reason, as JSON. The answer is validated; on a timeout, an
HTTP error, a refusal, malformed JSON or a code outside the list, the local ranking stands unchanged.

The re-ranking only reorders: the chosen candidate keeps its own calibrated confidence (the model's accuracy is
measured only against a real endpoint, README), so an LLM never turns an unsure answer into a claimed one.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass

from llm_client import LlmConfig, LlmError, chat_completion_stream

from .analysis.analyse import CONFIDENCE_THRESHOLD, Candidate, TextAnalysis
from .analysis.korean_index import get_korean_names
from .analysis.nomenclature import get_nomenclature

RERANK_CANDIDATES = 5
MAX_REASON_CHARS = 300

GIR = (
    "General Interpretative Rules (GRI): 1. classification is determined by the terms of the headings and the "
    "section and chapter notes; 2(a) incomplete or unassembled articles with the essential character of the "
    "complete article, 2(b) mixtures and composite goods of a material; 3(a) the most specific description is "
    "preferred, 3(b) mixtures and composite goods by the material or component that gives the essential "
    "character, 3(c) otherwise the heading that occurs last in numerical order; 4. goods akin to the most similar "
    "goods; 5. cases and packing; 6. subheadings by the terms of the subheadings and their notes, comparing only "
    "subheadings at the same level."
)


@dataclass(frozen=True)
class RerankOutcome:
    status: str  # reranked | kept (the model agreed) | timeout | error | refused | invalid | outside | skipped
    code: str | None = None
    reason: str = ""

    def to_dict(self) -> dict:
        return {"status": self.status, "code": self.code, "reason": self.reason}


def rerank_messages(analysis: TextAnalysis) -> list[dict[str, str]]:
    """The prompt: the GIR, the person's text, each candidate with its names, heading and similar decisions."""
    nomenclature = get_nomenclature()
    korean = get_korean_names()
    lines = []
    for candidate in analysis.candidates[:RERANK_CANDIDATES]:
        heading = nomenclature.get(candidate.code[:4])
        line = f"- {candidate.dotted}: {candidate.description}"
        if korean.names(candidate.code):
            line += f" / {korean.names(candidate.code)}"
        if heading is not None:
            line += f" (heading {heading.dotted}: {heading.description})"
        lines.append(line)
    decisions = [
        f"- {c.reference_id + ' ' if c.reference_id else ''}{c.text[:160]} -> {c.hs6[:4]}.{c.hs6[4:]}"
        for c in analysis.similar_cases[:3]
    ]
    system = (
        "You classify goods in the Harmonized System (HS 2022). " + GIR + " Choose exactly one of the candidate "
        'codes given. Answer only with JSON: {"code": "<one candidate, as written>", "reason": "<one short '
        'sentence>"}.'
    )
    user = f"Goods: {analysis.text}\n\nCandidates:\n" + "\n".join(lines)
    if decisions:
        user += "\n\nSimilar Korea Customs decisions:\n" + "\n".join(decisions)
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def validate_answer(answer: str, candidates: tuple[Candidate, ...]) -> RerankOutcome:
    """The model's answer as an outcome: a candidate code with a reason, or why it is refused."""
    match = _JSON_OBJECT.search(answer or "")
    if match is None:
        return RerankOutcome("refused", reason=(answer or "").strip()[:MAX_REASON_CHARS])
    try:
        data = json.loads(match.group(0))
    except ValueError:
        return RerankOutcome("invalid", reason="answer is not JSON")
    if not isinstance(data, dict) or not isinstance(data.get("code"), str):
        return RerankOutcome("invalid", reason="no code in the answer")
    reason = data.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        return RerankOutcome("invalid", reason="no reason in the answer")
    digits = "".join(ch for ch in data["code"] if ch.isdigit())[:6]
    allowed = [c.code for c in candidates[:RERANK_CANDIDATES]]
    if digits not in allowed:
        return RerankOutcome("outside", code=digits or None, reason=reason.strip()[:MAX_REASON_CHARS])
    return RerankOutcome("reranked", code=digits, reason=reason.strip()[:MAX_REASON_CHARS])


def llm_rerank(analysis: TextAnalysis, config: LlmConfig) -> tuple[TextAnalysis, RerankOutcome]:
    """The analysis with the model's choice first (when valid), and what happened. Never raises for the model."""
    if analysis.explicit is not None or len(analysis.candidates) < 2:
        return analysis, RerankOutcome("skipped")
    try:
        answer = "".join(chat_completion_stream(config, rerank_messages(analysis)))
    except LlmError as error:
        status = "timeout" if "timed out" in str(error).lower() or "Timeout" in str(error) else "error"
        return analysis, RerankOutcome(status, reason=str(error)[:MAX_REASON_CHARS])
    outcome = validate_answer(answer, analysis.candidates)
    if outcome.status != "reranked":
        return analysis, outcome
    if outcome.code == analysis.candidates[0].code:
        return analysis, dataclasses.replace(outcome, status="kept")
    chosen = next(c for c in analysis.candidates if c.code == outcome.code)
    others = [c for c in analysis.candidates if c.code != outcome.code]
    moved = dataclasses.replace(chosen, evidence=tuple(dict.fromkeys((*chosen.evidence, "llm"))))
    # the first place carries no more confidence than the candidate had: the model's accuracy is unmeasured here
    reordered = (moved, *others)
    chosen_now = moved if moved.confidence >= CONFIDENCE_THRESHOLD else None
    needs = analysis.needs_detail if chosen_now is not None or analysis.needs_detail else ("material", "use")
    if chosen_now is not None:
        needs = ()
    return dataclasses.replace(analysis, candidates=reordered, chosen=chosen_now, needs_detail=needs), outcome
