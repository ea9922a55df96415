"""Analyse one chat message: codes it names, HS candidates for the product it describes, intent.

    analyse_text("아이폰 15 프로 수입하려는데 HS코드 알려줘")
      -> TextAnalysis(language="ko", chosen=Candidate("851713", ...), intent=hscode_search, ...)

Order of precedence for `chosen` (the code that drives the buttons):
1. the first valid 6-digit code the person typed (confidence 1.0);
2. otherwise the top candidate, when its calibrated confidence reaches
   CONFIDENCE_THRESHOLD (a 4- or 2-digit code the person typed restricts the
   candidates to that heading or chapter);
3. otherwise None, and `needs_detail` says which details would settle it.

Plain Python (no Django). Heavy indexes are built once per process on first
use, or eagerly by warm_up(). analyse_text never raises on a str.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass

from . import korean_index
from .calibration import (
    CONFIDENCE_THRESHOLD,
    EXACT_CONFIDENCE,
    FIRST_STAGE_FEATURES,
    calibrate,
    calibration_input,
    candidate_confidences,
    first_stage_vector,
    is_lexicon_exact,
    raw_features,
    text_kind,
)
from .cases import AnyCaseIndex, CaseIndex, CaseRef
from .classifier import Query, Ranking, get_index, get_korean
from .features import build_query, features_of
from .intent import IntentResult, detect_intent, is_small_talk
from .korean_index import get_korean_names
from .lexicon import load_lexicon
from .nomenclature import get_nomenclature
from .notation import CodeMention, extract_codes
from .text import clean, detect_language, for_analysis, words

__all__ = [
    "CONFIDENCE_THRESHOLD",
    "Candidate",
    "CaseIndex",
    "IntentResult",
    "TextAnalysis",
    "analyse_text",
    "warm_up",
]

logger = logging.getLogger(__name__)

DETAIL_KINDS = ("material", "use", "processing", "form", "product")
# How strongly a case vote can override retrieval: strength = case weight * best neighbour similarity (at most
# CASE_MAX_STRENGTH). The weight is chosen per (language, kind of text) where a shipped corpus measures that kind,
# by k-fold over it with its first stage cross-fitted, never on the dev files (docs/classifier.md, "Labelled
# cases"): declaration records on the trade names, Korean descriptions on the rulings (near duplicates in one fold).
# A kind no corpus measures (English free text, short Korean text) keeps CASE_WEIGHT_UNMEASURED.
CASE_WEIGHT = {("en", "record"): 3.0, ("ko", "record"): 3.0, ("ko", "long"): 3.0}
CASE_WEIGHT_UNMEASURED = 1.0
CASE_MIN_SIMILARITY = 0.1
CASE_MAX_STRENGTH = 0.95
# A staff verdict on the same text (similarity at least this) is taken as it is, at REVIEW_CONFIDENCE.
SAME_TEXT_SIMILARITY = 0.99
REVIEW_CONFIDENCE = 0.95
# Weight of the hint a bare, uncued digit run adds (against 1.0 for a lexicon product term).
UNCUED_CODE_HINT = 0.25


@dataclass(frozen=True)
class Candidate:
    code: str
    description: str
    confidence: float
    source: str
    evidence: tuple[str, ...] = ()

    @property
    def dotted(self) -> str:
        return f"{self.code[:4]}.{self.code[4:]}" if len(self.code) == 6 else self.code

    def to_dict(self) -> dict:
        return {
            "code": self.dotted,
            "confidence": round(float(self.confidence), 3),
            "description": self.description,
            "source": self.source,
            "evidence": list(self.evidence),
        }


@dataclass(frozen=True)
class TextAnalysis:
    text: str
    language: str
    mentions: tuple[CodeMention, ...]
    explicit: CodeMention | None
    candidates: tuple[Candidate, ...]
    chosen: Candidate | None
    needs_detail: tuple[str, ...]
    intent: IntentResult
    product_name: str
    # the decisions the case vote leaned on for the first candidate (most similar first)
    similar_cases: tuple[CaseRef, ...] = ()
    # what the top confidence was computed from (for calibration and evaluation)
    calibration_features: tuple[tuple[str, float], ...] = ()
    # the kind of text its calibration map is fitted on (calibration.text_kind)
    calibration_kind: str = ""

    def to_dict(self) -> dict:
        return {
            "language": self.language,
            "product_name": self.product_name,
            "explicit_code": self.explicit.dotted if self.explicit else None,
            "candidates": [c.to_dict() for c in self.candidates],
            "chosen": self.chosen.to_dict() if self.chosen else None,
            "needs_detail": list(self.needs_detail),
            "intent_detection": self.intent.to_dict(),
            "similar_cases": [c.to_dict() for c in self.similar_cases],
        }


_warm_lock = threading.Lock()


# --- product phrase -------------------------------------------------------------------

_EN_QUERY_WORDS = frozenset(
    """
    what whats which is are the hs code codes for of tariff tariffs duty duties rate rates import importing imports
    export exporting exports to from into korea korean us usa china japan eu please tell me my i we want need
    classify classification classified how much does do can could would should find get give show heading
    subheading chapter number hts regulation regulations requirements statistics stats data about on in a an
    and or with customs tax taxes vat fta into buy sell selling ship shipping need needs what's it this that
    """.split()
)
_CODE_LIKE = re.compile(r"^\d+$|^\d{4}\.\d{2}")


def product_phrase(text: str, language: str, morphs: list[tuple[str, str, int, int]], mentions) -> str:
    spans = [m.span for m in mentions]
    if language == "ko":
        lexicon = load_lexicon("ko")
        best: tuple[int, int] | None = None
        run: list[tuple[int, int]] = []
        runs: list[list[tuple[int, int]]] = []
        for form, tag, start, length in morphs:
            entry = lexicon.get(form)
            content = (tag in ("NNG", "NNP", "SL", "SN", "SH", "NR", "XR") or (tag == "XSN" and run)) and not (
                entry is not None and entry.kind == "stop"
            )
            if content and any(s <= start < e for s, e in spans):
                content = False
            if content and tag == "SL" and form.lower() in ("hs", "hsk", "hs코드", "code"):
                content = False
            if content:
                run.append((start, start + length))
            elif run:
                runs.append(run)
                run = []
        if run:
            runs.append(run)
        runs = [r for r in runs if any(not text[s:e].isdigit() for s, e in r)]
        if runs:
            best = (runs[0][0][0], runs[0][-1][1])
        return text[best[0] : best[1]].strip() if best else ""
    tokens = list(re.finditer(r"[A-Za-z0-9][A-Za-z0-9'\-./%]*", text))
    runs = []
    current: list[re.Match[str]] = []
    for match in tokens:
        word = match.group(0).lower().strip(".")
        in_code = any(s <= match.start() < e for s, e in spans)
        if word in _EN_QUERY_WORDS or in_code or _CODE_LIKE.match(word):
            if current:
                runs.append(current)
                current = []
            continue
        current.append(match)
    if current:
        runs.append(current)
    if not runs:
        return ""
    best_run = max(runs, key=len)
    return text[best_run[0].start() : best_run[-1].end()].strip()


# --- main entry -------------------------------------------------------------------------


def analyse_text(text: str, cases: AnyCaseIndex | None = None) -> TextAnalysis:
    """Analyse one message; never raises for a str (falls back to an empty analysis)."""
    try:
        return _analyse(text, cases)
    except Exception:  # the chat must keep working on any input
        logger.exception("analyse_text failed; returning an empty analysis")
        safe = clean(text) if isinstance(text, str) else ""
        return TextAnalysis(
            text=safe,
            language=detect_language(safe) if safe else "en",
            mentions=(),
            explicit=None,
            candidates=(),
            chosen=None,
            needs_detail=("product",),
            intent=IntentResult("general", (), 0.3),
            product_name="",
        )


def _analyse(text: str, cases: AnyCaseIndex | None) -> TextAnalysis:
    text = clean(text)
    language = detect_language(text)
    nomenclature = get_nomenclature()
    mentions = tuple(extract_codes(text, nomenclature))
    explicit = _explicit(mentions)

    query_text = for_analysis(_without_codes(text, mentions))
    query, morphs = build_query(query_text, language)
    product_name = product_phrase(query_text, language, morphs, ())

    prefix = explicit.code if explicit is not None and explicit.level < 6 else ""
    if prefix:
        query.add_hints((prefix,), 2.0)  # the person named the heading or chapter
    for mention in mentions:
        if not mention.cued and mention.valid:
            # a bare number inside a description may be a code or a model number: a weak hint only
            query.add_hints((mention.code,), UNCUED_CODE_HINT)
    ranking = get_index().rank(query, k=40 if prefix else 8, diverse=not prefix, extra=_korean_names(language, morphs))
    ranked = [r for r in ranking.items if r.code.startswith(prefix)][:8]
    confidences = candidate_confidences(ranking, query, language) if ranked else []
    if prefix:
        # the person named the heading or chapter: candidates are its subheadings, ranked
        confidences = [min(1.0, c * 1.5) for c in confidences[: len(ranked)]]
    candidates: list[Candidate] = []
    for item, conf in zip(ranked, confidences, strict=False):
        entry = nomenclature.get(item.code)
        candidates.append(
            Candidate(
                code=item.code,
                description=entry.description if entry else "",
                confidence=round(float(conf), 3),
                source="lexical",
                evidence=item.evidence,
            )
        )

    small_talk = explicit is None and is_small_talk(query_text)
    if small_talk:
        candidates = []  # a greeting or a thank-you names no product: nothing to classify or vote on
        query_text = product_name = ""
    lexical_top = candidates[0] if candidates else None
    retrieval_top = candidates[0].confidence if candidates else 0.0
    exact_code = candidates[0].code if candidates and retrieval_top == EXACT_CONFIDENCE else None
    similar: tuple[CaseRef, ...] = ()
    strength = share = case_sim = 0.0
    if cases is not None and len(cases) and query_text.strip():
        votes = cases.vote(query_text, words=features_of(query_text, language, query, morphs))
        weight = CASE_WEIGHT.get((language, text_kind(query_text)), CASE_WEIGHT_UNMEASURED)
        candidates, strength = _merge_cases(candidates, votes, prefix, weight)
        verdict = _staff_verdict_on_this_text(votes, prefix)
        if verdict is not None:
            # staff labelled this very text: their verdict stands (it is what reprocessing after a review is for)
            entry = nomenclature.get(verdict.code)
            candidates = [Candidate(verdict.code, entry.description if entry else "", REVIEW_CONFIDENCE, "review",
                                    tuple(c.text[:80] for c in verdict.cases[:1]))] + [
                c for c in candidates if c.code != verdict.code]
        if candidates:
            top_vote = next((v for v in votes if v.code == candidates[0].code), None)
            if top_vote is not None and strength > 0:
                similar = top_vote.cases
                share = top_vote.score
                case_sim = top_vote.similarity
    if lexical_top is not None and all(c.code != lexical_top.code for c in candidates[:MIN_LEXICAL_RANK]):
        # The nomenclature's own best match stays within the first candidates the person is offered: the case
        # vote and the nomenclature are two kinds of evidence, and a vote led by shared words ("stainless steel")
        # must not hide the heading the product's own name points to.
        kept = next((c for c in candidates if c.code == lexical_top.code), lexical_top)
        others = [c for c in candidates if c.code != kept.code]
        candidates = [*others[: MIN_LEXICAL_RANK - 1], kept, *others[MIN_LEXICAL_RANK - 1:]]
    raw_top = candidates[0].confidence if candidates else 0.0
    # the first stage's inputs, and whether this row is one its logistic scores (fit_calibration fits it on them:
    # the retrieval's own top code, no typed code, not the lexicon-exact rule)
    stage1 = raw_features(ranking, query) if ranked else None
    stage1_fits = stage1 is not None and explicit is None and not small_talk and not is_lexicon_exact(stage1, query)
    stage1_vector = first_stage_vector(stage1) if stage1 is not None else (0.0,) * len(FIRST_STAGE_FEATURES)
    calibration_features = (
        ("stage1_fits", 1.0 if stage1_fits else 0.0),
        *((f"stage1_{name}", round(v, 4)) for name, v in zip(FIRST_STAGE_FEATURES, stage1_vector, strict=True)),
        ("raw", round(raw_top, 4)),
        ("retrieval", round(retrieval_top, 4)),
        ("case_strength", round(strength, 4)),
        ("case_share", round(share, 4)),
        ("case_similarity", round(case_sim, 4)),
    )
    kind = text_kind(query_text)
    lexicon_exact = bool(candidates) and candidates[0].source == "lexical" and candidates[0].code == exact_code
    if candidates and candidates[0].source in ("cases", "lexical") and not lexicon_exact:
        # (the lexicon-exact rule keeps its own fixed confidence, docs/classifier.md "Calibration rule")
        top = candidates[0]
        calibrated = calibrate(calibration_input(top.source, dict(calibration_features)), language, top.source, kind)
        rest = [min(c.confidence, calibrated) for c in candidates[1:5]]
        # the codes exclude one another: the others share at most what the first leaves (scaled, order kept)
        room = max(0.0, 1.0 - calibrated)
        scale = room / sum(rest) if sum(rest) > room else 1.0
        candidates = [Candidate(top.code, top.description, calibrated, top.source, top.evidence)] + [
            Candidate(c.code, c.description, round(conf * scale, 3), c.source, c.evidence)
            for c, conf in zip(candidates[1:5], rest, strict=True)
        ]

    if explicit is not None and explicit.level == 6:
        entry = nomenclature.get(explicit.code)
        top = Candidate(
            code=explicit.code,
            description=entry.description if entry else "",
            confidence=1.0,
            source="explicit",
            evidence=(explicit.raw,),
        )
        candidates = [top] + [c for c in candidates if c.code != explicit.code]
    candidates = candidates[:5]

    chosen: Candidate | None = None
    if candidates and (candidates[0].source == "explicit" or candidates[0].confidence >= CONFIDENCE_THRESHOLD):
        chosen = candidates[0]
    needs = () if chosen is not None else _needs_detail(query, candidates, product_name)

    has_product = not small_talk and (bool(product_name) or bool(query.weights))
    intent = detect_intent(text, has_product=has_product, has_code=any(m.cued for m in mentions))
    return TextAnalysis(
        text=text,
        language=language,
        mentions=mentions,
        explicit=explicit,
        candidates=tuple(candidates),
        chosen=chosen,
        needs_detail=needs,
        intent=intent,
        product_name=product_name,
        similar_cases=similar if candidates and candidates[0].source != "explicit" else (),
        calibration_features=calibration_features,
        calibration_kind=kind,
    )


# The rank within which the nomenclature's own best candidate is always kept (the candidate buttons show three).
MIN_LEXICAL_RANK = 3


def _staff_verdict_on_this_text(votes, prefix: str):
    """The vote for the code a staff review gave this same text (similarity ~1), if any."""
    for vote in votes:
        if vote.code.startswith(prefix) and any(
            c.source == "review" and c.similarity >= SAME_TEXT_SIMILARITY for c in vote.cases
        ):
            return vote
    return None


def _korean_names(language: str, morphs: list[tuple[str, str, int, int]]):
    """The Korean-name retrieval's scores for a Korean query (weighted), else None."""
    if language != "ko" or not morphs or korean_index.KOREAN_NAME_WEIGHT <= 0:
        return None
    scores = get_korean_names().scores(morphs)
    return None if scores is None else korean_index.KOREAN_NAME_WEIGHT * scores


def _explicit(mentions: tuple[CodeMention, ...]) -> CodeMention | None:
    valid = [m for m in mentions if m.valid and m.cued]
    for level in (6, 4, 2):
        for mention in valid:
            if mention.level == level:
                return mention
    return None


def _without_codes(text: str, mentions: tuple[CodeMention, ...]) -> str:
    if not mentions:
        return text
    parts = []
    last = 0
    for mention in mentions:
        start, end = mention.span
        parts.append(text[last:start])
        parts.append(" ")
        last = end
    parts.append(text[last:])
    return "".join(parts)


def _merge_cases(candidates: list[Candidate], votes, prefix: str, weight: float) -> tuple[list[Candidate], float]:
    """Blend retrieval confidences with the nearest-neighbour vote of labelled cases; also the vote's strength."""
    votes = [v for v in votes if v.code.startswith(prefix) and v.similarity >= CASE_MIN_SIMILARITY]
    if not votes:
        return candidates, 0.0
    nomenclature = get_nomenclature()
    strength = min(CASE_MAX_STRENGTH, weight * max(v.similarity for v in votes))
    by_code: dict[str, Candidate] = {c.code: c for c in candidates}
    merged: dict[str, tuple[float, str, tuple[str, ...]]] = {
        c.code: ((1 - strength) * c.confidence, c.source, c.evidence) for c in candidates
    }
    for vote in votes:
        entry = nomenclature.get(vote.code)
        if entry is None:
            continue
        case_part = strength * vote.score * vote.similarity
        base, source, evidence = merged.get(vote.code, (0.0, "cases", ()))
        if case_part > base:
            source = "cases"
        merged[vote.code] = (base + case_part, source, tuple(dict.fromkeys(evidence + vote.evidence))[:6])
    out = []
    for code, (conf, source, evidence) in merged.items():
        entry = nomenclature.get(code)
        description = by_code[code].description if code in by_code else (entry.description if entry else "")
        out.append(Candidate(code, description, round(min(1.0, conf), 3), source, evidence))
    out.sort(key=lambda c: (-c.confidence, c.code))
    return out, strength


def _needs_detail(query: Query, candidates: list[Candidate], product_name: str) -> tuple[str, ...]:
    """Which details would settle the classification, most useful first."""
    kinds = query.kinds()
    if not query.weights and not product_name:
        return ("product", "material", "use")
    vocab = _detail_vocabulary()
    needs: list[str] = []
    descriptions = [set(words(c.description)) for c in candidates]
    for detail, kind in (("material", "material"), ("use", "use"), ("processing", "process"), ("form", "form")):
        if kind in kinds:
            continue
        # a detail matters when the candidates differ in words of that kind
        seen = [d & vocab[kind] for d in descriptions]
        distinct = len({frozenset(s) for s in seen}) > 1
        needs.append((0 if distinct else 1, detail))
    ordered = [d for _, d in sorted(needs, key=lambda x: x[0])]
    if not candidates or (not any(k in kinds for k in ("product", "brand")) and not query.weights):
        ordered.insert(0, "product")
    return tuple(ordered[:3]) if ordered else ("use",)


_detail_vocab: dict[str, frozenset[str]] = {}


def _detail_vocabulary() -> dict[str, frozenset[str]]:
    if not _detail_vocab:
        with _warm_lock:
            if not _detail_vocab:
                bags: dict[str, set[str]] = {k: set() for k in ("material", "use", "process", "form")}
                for name in ("ko", "en"):
                    for entry in load_lexicon(name).entries.values():
                        if entry.kind in bags:
                            bags[entry.kind].update(words(entry.english))
                for kind, bag in bags.items():
                    _detail_vocab[kind] = frozenset(bag)
    return _detail_vocab


def warm_up() -> None:
    """Build every index now (call at process start) so the first message is fast."""
    get_nomenclature()
    get_index()
    get_korean().morphemes("워밍업 아이폰")
    get_korean_names()
    _detail_vocabulary()
    analyse_text("냉동 삼겹살")
    analyse_text("stainless steel bottle opener")


def ranking_for(text: str) -> Ranking:
    """Raw retrieval ranking (for evaluation and debugging)."""
    text = clean(text)
    language = detect_language(text)
    query, morphs = build_query(text, language)
    return get_index().rank(query, extra=_korean_names(language, morphs))
