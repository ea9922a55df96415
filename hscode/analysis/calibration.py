"""Calibrated confidence for retrieval candidates.

Two regimes (docs/classifier.md, "Calibration"):

1. Lexicon-exact: the text names one product (or brand) that the lexicon ties
   to a single 6-digit subheading, no other product term competes, and the
   retrieval ranks that subheading first (e.g. "아이폰 15 프로", "라면",
   "stainless steel bottle opener"). Confidence EXACT_CONFIDENCE.
2. Everything else: a Platt-style logistic model over four score-shape
   features -- the margin between the first and second combined score, whether
   the top code lies under a 6-digit / 4-digit lexicon hint, the share of the
   matched product terms that agree with it, the share of the top-20 score
   mass held by its chapter -- with coefficients fitted once on the pooled dev
   sets (800 rows, 7 parameters, L2-regularised; never per row) and capped at
   RETRIEVAL_CAP. On those customs-ruling descriptions no band of this regime
   exceeds ~40 % accuracy, so it never claims a code on its own.

Lower-ranked candidates get the top confidence scaled by (score_i / score_1)^8,
so that the five confidences sum to about the measured top-5 accuracy.
"""

from __future__ import annotations

import itertools
import math

from .classifier import Query, Ranking

# At or above this a single code is claimed (TextAnalysis.chosen).
CONFIDENCE_THRESHOLD = 0.5
EXACT_CONFIDENCE = 0.75
RETRIEVAL_CAP = 0.45
RANK_DECAY_POWER = 8.0

# Logistic coefficients (see module docstring); order matches _vector().
_COEF = (1.589, -0.731, -0.184, 0.75, -0.021, 0.434)
_BIAS = -2.259


def raw_features(ranking: Ranking, query: Query) -> dict[str, float]:
    scores = ranking.top_scores
    s1 = scores[0] if scores else 0.0
    s2 = scores[1] if len(scores) > 1 else 0.0
    margin = (s1 - s2) / s1 if s1 > 0 else 0.0
    top = ranking.items[0].code if ranking.items else ""
    hint = 0.0
    for _surface, kind, hints in query.matched:
        if kind in ("product", "brand"):
            matching = [h for h in hints if top.startswith(h)]
            if matching:
                hint = max(hint, len(max(matching, key=len)) / 6)
    # share of the matched product terms whose hints contain the top code
    agree = total = 0
    for _surface, kind, hints in query.matched:
        if kind in ("product", "brand"):
            total += 1
            agree += any(top.startswith(h) for h in hints)
    dominance = agree / total if total else 0.0
    return {
        "margin": margin,
        "hint": hint,
        "chapter_share": ranking.chapter_share,
        "s1": s1,
        "dominance": dominance,
        "n_terms": float(total),
    }


def _vector(f: dict[str, float]) -> tuple[float, ...]:
    return (
        min(1.0, f["margin"] * 4),
        1.0 if f["hint"] >= 0.99 else 0.0,
        1.0 if f["hint"] >= 0.66 else 0.0,
        f["dominance"],
        f["chapter_share"],
        1.0 / (1.0 + f["n_terms"]),
    )


def is_lexicon_exact(f: dict[str, float], query: Query) -> bool:
    """One product term, tied to one 6-digit code, ranked first, nothing else unexplained."""
    return (
        f["n_terms"] == 1
        and f["hint"] >= 0.99
        and f["dominance"] >= 0.99
        and f["margin"] >= 0.05
        and len(query.unknown) <= 2
        and len(query.weights) <= 12
    )


def top_confidence(f: dict[str, float], query: Query) -> float:
    if is_lexicon_exact(f, query):
        return EXACT_CONFIDENCE
    z = _BIAS + sum(c * x for c, x in zip(_COEF, _vector(f), strict=True))
    return min(RETRIEVAL_CAP, 1.0 / (1.0 + math.exp(-z)))


def candidate_confidences(ranking: Ranking, query: Query, language: str) -> list[float]:
    """Confidence for each ranked item, 0..1."""
    if not ranking.items:
        return []
    f = raw_features(ranking, query)
    conf1 = top_confidence(f, query)
    s1 = ranking.items[0].score or 1.0
    out = [conf1]
    for item in ranking.items[1:]:
        ratio = max(0.0, min(1.0, item.score / s1))
        out.append(conf1 * ratio**RANK_DECAY_POWER * (1.0 - conf1 if conf1 > 0.5 else 1.0))
    return [max(0.0, min(1.0, c)) for c in out]


# Reliability maps per (language, source of evidence): (raw confidence, calibrated) knots, fitted by
# isotonic regression on out-of-fold predictions (devtools: `evaluate_classifier --fit-calibration`).
# Empty map: the raw confidence stands.
CALIBRATION_MAPS: dict[tuple[str, str], tuple[tuple[float, float], ...]] = {}


def calibrate(raw: float, language: str, source: str) -> float:
    """The calibrated confidence of a top candidate whose raw confidence is `raw`."""
    knots = CALIBRATION_MAPS.get((language, source))
    if not knots:
        return raw
    if raw <= knots[0][0]:
        return knots[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(knots):
        if raw <= x1:
            return y0 + (y1 - y0) * ((raw - x0) / (x1 - x0) if x1 > x0 else 1.0)
    return knots[-1][1]
