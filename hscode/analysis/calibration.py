"""Calibrated confidence for retrieval candidates.

Two stages (docs/classifier.md, "Calibration rule"):

1. First stage, retrieval (source `lexical`):
   a. Lexicon-exact: the text names one product (or brand) that the lexicon ties
      to a single 6-digit subheading, no other product term competes, and the
      retrieval ranks that subheading first (e.g. "아이폰 15 프로", "라면",
      "stainless steel bottle opener"). Confidence EXACT_CONFIDENCE (a rule, not a fit).
   b. Everything else: a Platt-style logistic model over six score-shape
      features (FIRST_STAGE_FEATURES) -- the margin between the first and second
      combined score, whether the top code lies under a 6-digit / 4-digit lexicon
      hint, the share of the matched product terms that agree with it, the share
      of the top-20 score mass held by its chapter, the number of product terms --
      predicting "the retrieval's top code is right". Its coefficients are fitted
      by `manage.py fit_calibration` (fit_first_stage: L2-regularised, never per
      row) on the shipped KCS case corpora only, never on the dev files, and are
      read from hscode/data/calibration.json ("first_stage"). In the k-fold
      passes of fit_calibration and evaluate_classifier each fold is scored with
      coefficients fitted on the other folds (first_stage_set). The output is
      capped at RETRIEVAL_CAP, below the claim threshold: retrieval never claims
      a code by this stage alone.
2. Second stage: an isotonic map per (language, source of evidence, kind of
   text) from the first stage's output (or the case vote's score) to observed
   accuracy, fitted on out-of-fold predictions over the same corpora (below).

Lower-ranked candidates get the top confidence scaled by (score_i / score_1)^8,
and never exceed the first one's confidence.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .classifier import Query, Ranking

# At or above this a single code is claimed (TextAnalysis.chosen).
CONFIDENCE_THRESHOLD = 0.5
EXACT_CONFIDENCE = 0.75
RETRIEVAL_CAP = 0.45
RANK_DECAY_POWER = 8.0

# The first stage's features, in the order of first_stage_vector() and of the fitted coefficients.
FIRST_STAGE_FEATURES = ("margin", "hint_6", "hint_4", "dominance", "chapter_share", "one_over_terms")
FIRST_STAGE_L2 = 1.0  # ridge penalty on the coefficients (not the bias) of the first-stage logistic


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


def first_stage_vector(f: dict[str, float]) -> tuple[float, ...]:
    """The first-stage logistic's inputs (FIRST_STAGE_FEATURES) from raw_features()."""
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
    coef, bias = _first_stage["coef"], _first_stage["bias"]
    z = bias + sum(c * x for c, x in zip(coef, first_stage_vector(f), strict=True))
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


# Reliability maps per (language, source of evidence): (raw confidence, calibrated) knots, fitted by isotonic
# regression on out-of-fold predictions over the shipped case corpora (`manage.py fit_calibration`, which writes
# hscode/data/calibration.json and prints the cross-fitted reliability table of docs/classifier.md). A missing
# map leaves the raw confidence as it is.
CALIBRATION_FILE = Path(__file__).resolve().parents[1] / "data" / "calibration.json"
MIN_BLOCK = 25  # rows per isotonic block at least: a band is not claimed on a handful of rows
MIN_FIT_ROWS = 100  # a stratum with fewer out-of-fold rows gets no map
# Where no map was fitted (no measurement for that language, source and kind of text), a code is not claimed.
UNMEASURED_CAP = 0.45
SHORT_TEXT = 80  # characters: trade names and chat product names are short, rulings are descriptions


# The kinds of text each shipped corpus measures. A trade name written as free text ("Basil seed") cannot be told
# from a chat phrase by its form, but its neighbourhood (near twins among 34,000 declarations) is not a chat
# phrase's or a ruling's: it measures neither, and is left out of the fit. English free text is therefore never
# measured (the project ships no English rulings) and stays capped at UNMEASURED_CAP.
MEASURED_KINDS = {"kcs_names": ("record",), "kcs_ruling": ("short", "long")}


def is_long(text: str) -> bool:
    return len(text) > SHORT_TEXT


def is_record(text: str) -> bool:
    """Written as an import declaration's trade-name record: mostly Latin letters, with fields separated by ';'
    or in capitals only ("PISTON CLUTCH ; 4563026000 ; RKOREA"). A Korean description naming "PET" or using ';'
    is no record."""
    latin = [ch for ch in text if ch.isascii() and ch.isalpha()]
    hangul = sum(1 for ch in text if "\uac00" <= ch <= "\ud7a3")
    if len(latin) < 3 or hangul >= len(latin):
        return False
    return ";" in text or not any(ch.islower() for ch in latin)


def text_kind(text: str) -> str:
    """The kind of text a calibration map is fitted on and applies to: a declaration `record`, or free text,
    `short` (a product name, a chat message) or `long` (a description, a ruling)."""
    if is_record(text):
        return "record"
    return "long" if is_long(text) else "short"


def _load_maps(path: Path) -> dict[tuple[str, str], tuple[tuple[float, float], ...]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    return {
        (entry["language"], entry["source"], entry["kind"]): tuple((float(x), float(y)) for x, y in entry["knots"])
        for entry in data["maps"]
    }


CALIBRATION_MAPS: dict[tuple[str, str, str], tuple[tuple[float, float], ...]] = _load_maps(CALIBRATION_FILE)
_enabled = {"on": True}


def _load_first_stage(path: Path) -> tuple[tuple[float, ...], float]:
    """The shipped first-stage coefficients. Without a fitted file every retrieval row gets the same first-stage
    confidence (all coefficients 0): nothing is ordered by a model that was never fitted."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))["first_stage"]
    except (FileNotFoundError, KeyError):
        return (0.0,) * len(FIRST_STAGE_FEATURES), 0.0
    if tuple(entry["features"]) != FIRST_STAGE_FEATURES:
        raise ValueError(f"{path}: first_stage was fitted on {entry['features']}, not {FIRST_STAGE_FEATURES}")
    return tuple(float(c) for c in entry["coef"]), float(entry["bias"])


SHIPPED_FIRST_STAGE = _load_first_stage(CALIBRATION_FILE)
_first_stage: dict = {"coef": SHIPPED_FIRST_STAGE[0], "bias": SHIPPED_FIRST_STAGE[1]}


def fold_first_stages_fitted(corpus: str, rows: int, k: int, grouped: bool, path: Path = CALIBRATION_FILE
                             ) -> dict[int, tuple[tuple[float, ...], float]] | None:
    """The per-fold first-stage coefficients fit_calibration fitted for `corpus` (a shipped case file's name),
    each without its fold's rows, if they were fitted on the same split (rows, folds, grouping; the seed is
    fixed); else None."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))["first_stage"]["folds"][corpus]
    except (FileNotFoundError, KeyError):
        return None
    if (entry["rows"], entry["folds"], entry["grouped"]) != (rows, k, grouped):
        return None
    return {int(i): (tuple(c["coef"]), float(c["bias"])) for i, c in entry["coefficients"].items()}


def first_stage_set(coefficients: tuple[tuple[float, ...], float] | None) -> None:
    """Score with these (coef, bias) -- a fold's, fitted on the other folds -- or, with None, the shipped ones."""
    coef, bias = coefficients if coefficients is not None else SHIPPED_FIRST_STAGE
    if len(coef) != len(FIRST_STAGE_FEATURES):
        raise ValueError(f"expected {len(FIRST_STAGE_FEATURES)} coefficients, got {len(coef)}")
    _first_stage["coef"], _first_stage["bias"] = tuple(coef), float(bias)


def fit_first_stage(pairs: Iterable[tuple[tuple[float, ...], bool]], l2: float = FIRST_STAGE_L2,
                    iterations: int = 50) -> tuple[tuple[float, ...], float]:
    """(coef, bias) of an L2-regularised logistic regression of "right?" on the first-stage vectors, by Newton's
    method (the bias is not penalised). Deterministic: the same rows give the same coefficients."""
    rows = list(pairs)
    if not rows:
        raise ValueError("no rows to fit the first stage on")
    x = np.array([(1.0, *v) for v, _ in rows], dtype=float)
    y = np.array([1.0 if right else 0.0 for _, right in rows])
    penalty = np.diag([0.0] + [l2] * len(FIRST_STAGE_FEATURES))
    w = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30.0, 30.0)))
        grad = x.T @ (p - y) + penalty @ w
        hess = (x * (p * (1.0 - p))[:, None]).T @ x + penalty + 1e-9 * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        w = w - step
        if float(np.max(np.abs(step))) < 1e-10:
            break
    return tuple(round(float(c), 4) for c in w[1:]), round(float(w[0]), 4)


def calibration_set(enabled: bool) -> None:
    """Switch the maps off while collecting the raw predictions they are fitted on."""
    _enabled["on"] = enabled


def calibration_input(source: str, features: dict[str, float]) -> float:
    """What a source's map reads. A case vote: the share of the vote its code won times the similarity of its
    nearest case -- how close the decisions it leans on are, which is what changes between corpora (a trade name
    among 34,000 trade names has near twins, a ruling written elsewhere rarely does). Retrieval: its own
    confidence."""
    if source == "cases":
        return features.get("case_share", 0.0) * features.get("case_similarity", 0.0)
    return features.get("raw", 0.0)


def calibrate(raw: float, language: str, source: str, kind: str) -> float:
    """The calibrated confidence of a top candidate whose map input is `raw`.

    Without a map for its language, source and kind of text, the confidence stays below the claim threshold:
    a band that was never measured is not claimed."""
    if not _enabled["on"]:
        return raw
    knots = CALIBRATION_MAPS.get((language, source, kind))
    return apply_knots(raw, knots) if knots else min(raw, UNMEASURED_CAP)


def apply_knots(raw: float, knots: tuple[tuple[float, float], ...]) -> float:
    """Piecewise-linear through the knots, flat beyond the first and the last."""
    if not knots:
        return raw
    if raw <= knots[0][0]:
        return knots[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(knots):
        if raw <= x1:
            return y0 + (y1 - y0) * ((raw - x0) / (x1 - x0) if x1 > x0 else 1.0)
    return knots[-1][1]


def isotonic_knots(pairs: Iterable[tuple[float, bool]], min_block: int = MIN_BLOCK) -> tuple[tuple[float, float], ...]:
    """Pool-adjacent-violators over (raw confidence, right?) sorted by raw: blocks of at least `min_block` rows
    whose accuracy never falls as raw rises; one knot (mean raw, lower bound of the accuracy) per block."""
    ordered = sorted((float(x), 1.0 if y else 0.0) for x, y in pairs)
    if not ordered:
        return ()
    # start from blocks of min_block rows, then merge violators
    blocks: list[list[float]] = []  # [sum_x, sum_y, n]
    for start in range(0, len(ordered), min_block):
        chunk = ordered[start : start + min_block]
        if blocks and len(chunk) < min_block:
            blocks[-1][0] += sum(x for x, _ in chunk)
            blocks[-1][1] += sum(y for _, y in chunk)
            blocks[-1][2] += len(chunk)
            continue
        blocks.append([sum(x for x, _ in chunk), sum(y for _, y in chunk), float(len(chunk))])
        while len(blocks) > 1 and (
            blocks[-2][1] / blocks[-2][2] >= blocks[-1][1] / blocks[-1][2]
            or abs(blocks[-2][0] / blocks[-2][2] - blocks[-1][0] / blocks[-1][2]) < 1e-9  # ties pool together
        ):
            last = blocks.pop()
            for i in range(3):
                blocks[-1][i] += last[i]
    # each block says the one-sided 95 % lower bound of its accuracy (Wilson): a band of 30 rows at 90 % does not
    # earn 0.9 -- a code is claimed only where it is right at least as often as it says, with room for chance
    # a small block's lower bound can fall below its neighbour's: pool the two (never raise a block by fiat)
    merged = True
    while merged and len(blocks) > 1:
        merged = False
        for i in range(len(blocks) - 1):
            if _wilson_lower(blocks[i][1], blocks[i][2]) > _wilson_lower(blocks[i + 1][1], blocks[i + 1][2]):
                nxt = blocks.pop(i + 1)
                for j in range(3):
                    blocks[i][j] += nxt[j]
                merged = True
                break
    return tuple((round(sx / n, 4), round(_wilson_lower(sy, n), 4)) for sx, sy, n in blocks)


def _wilson_lower(right: float, n: float, z: float = 1.645) -> float:
    if n <= 0:
        return 0.0
    p = right / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, (centre - margin) / (1 + z * z / n))
