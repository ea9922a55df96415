"""Evaluate analyse_text on labelled JSONL ({"text", "hs6", "lang"?} per line). Plain Python.

Guards against measuring memory: `leaked_rows` finds evaluation rows whose text
is already in the case index (the command refuses to score them), and
`evaluate_kfold` scores each fold of a case file with an index built from the
other folds only.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterable

from .analyse import CONFIDENCE_THRESHOLD, analyse_text, warm_up
from .calibration import (
    FIRST_STAGE_FEATURES,
    MEASURED_KINDS,
    MIN_FIT_ROWS,
    UNMEASURED_CAP,
    apply_knots,
    calibration_input,
    first_stage_set,
    fit_first_stage,
    isotonic_knots,
    text_kind,
)
from .cases import AnyCaseIndex, Case, CaseIndex
from .text import clean, detect_language

EVIDENCE_SOURCES = ("explicit", "review", "cases", "lexical")

BANDS = ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.01))
HIGH_CONFIDENCE = 0.8  # "confidence >= 0.8 is right at least 80 % of the time" (issue 15)


def read_jsonl(path: str) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from exc
            if not isinstance(row, dict) or "text" not in row or "hs6" not in row:
                raise ValueError(f"{path}:{number}: expected an object with 'text' and 'hs6'")
            rows.append(row)
    return rows


def case_from_row(row: dict, source: str = "import") -> Case:
    return Case(
        text=str(row["text"]),
        hs6=str(row["hs6"]),
        source=str(row.get("case_source") or source),
        reference_id=str(row.get("reference_id") or ""),
        decision_date=str(row.get("decision_date") or ""),
        hsk10=str(row.get("hsk10") or ""),
    )


def case_index_from_rows(rows: Iterable[dict], source: str = "import") -> CaseIndex:
    return CaseIndex(case_from_row(r, source) for r in rows)


def leaked_rows(rows: list[dict], cases: AnyCaseIndex | None) -> list[int]:
    """Line numbers (1-based) of rows whose text is in the case index."""
    if cases is None:
        return []
    return [i for i, row in enumerate(rows, start=1) if cases.contains(str(row["text"]))]


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _summary(records: list[dict]) -> dict:
    n = len(records)
    if not n:
        return {
            "n": 0, "top1_6": 0.0, "top5_6": 0.0, "top1_4": 0.0, "top1_2": 0.0, "p50_ms": 0.0, "p95_ms": 0.0,
            "calibration": [], "conf_ge_0_8": {"n": 0, "accuracy": None},
            "chosen": {"threshold": CONFIDENCE_THRESHOLD, "coverage": 0.0, "accuracy": None},
        }

    def rate(key: str) -> float:
        return round(sum(r[key] for r in records) / n, 4)

    latencies = [r["ms"] for r in records]
    calibration = []
    for lo, hi in BANDS:
        band = [r for r in records if r["top"] is not None and lo <= r["conf"] < hi]
        calibration.append(
            {
                "band": f"{lo:.1f}-{min(hi, 1.0):.1f}",
                "n": len(band),
                "coverage": round(len(band) / n, 4),
                "accuracy": round(sum(r["top1_6"] for r in band) / len(band), 4) if band else None,
            }
        )
    high = [r for r in records if r["top"] is not None and r["conf"] >= HIGH_CONFIDENCE]
    chosen = [r for r in records if r["chosen"]]
    return {
        "n": n,
        "top1_6": rate("top1_6"),
        "top5_6": rate("top5_6"),
        "top1_4": rate("top1_4"),
        "top1_2": rate("top1_2"),
        "p50_ms": round(_percentile(latencies, 0.5), 2),
        "p95_ms": round(_percentile(latencies, 0.95), 2),
        "calibration": calibration,
        "conf_ge_0_8": {
            "n": len(high),
            "accuracy": round(sum(r["top1_6"] for r in high) / len(high), 4) if high else None,
        },
        "chosen": {
            "threshold": CONFIDENCE_THRESHOLD,
            "coverage": round(len(chosen) / n, 4),
            "accuracy": round(sum(r["top1_6"] for r in chosen) / len(chosen), 4) if chosen else None,
        },
    }


def high_confidence_rule(summary: dict) -> str:
    """The rule of issue 15 on one evaluation: predictions at confidence >= 0.8 exist and >= 80 % are right."""
    high = summary["conf_ge_0_8"]
    if not high["n"]:
        return "no prediction at >= 0.8"
    return "met" if high["accuracy"] >= HIGH_CONFIDENCE else "missed"


def evaluate(rows: list[dict], cases: AnyCaseIndex | None = None) -> dict:
    """Accuracy, calibration and latency, overall, per language and per source of the top candidate's evidence."""
    warm_up()
    records = score_rows(rows, cases)
    result = summarise(records)
    result["records"] = records
    return result


def summarise(records: list[dict]) -> dict:
    result = _summary(records)
    result["by_lang"] = {lang: _summary([r for r in records if r["lang"] == lang]) for lang in ("en", "ko")}
    result["by_evidence"] = {
        source: _summary([r for r in records if r["evidence"] == source]) for source in EVIDENCE_SOURCES
    }
    return result


def kfold_splits(n: int, k: int, seed: int = 15, groups: list[int] | None = None) -> list[list[int]]:
    """k disjoint folds of range(n), shuffled with a fixed seed; rows of one group stay in one fold."""
    if k < 2 or k > n:
        raise ValueError(f"k-fold needs 2 <= k <= number of rows ({n}); got {k}")
    rng = random.Random(seed)
    if groups is None:
        order = list(range(n))
        rng.shuffle(order)
        return [order[i::k] for i in range(k)]  # in shuffled order: a prefix of a fold is a random sample of it
    members: dict[int, list[int]] = {}
    for row, group in enumerate(groups):
        members.setdefault(group, []).append(row)
    keys = list(members)
    rng.shuffle(keys)
    folds: list[list[int]] = [[] for _ in range(k)]
    for key in sorted(keys, key=lambda g: -len(members[g])):  # biggest groups first, each to the smallest fold
        min(folds, key=len).extend(members[key])
    for fold in folds:
        rng.shuffle(fold)
    return folds


def near_duplicate_groups(rows: list[dict], threshold: float = 0.5) -> list[int]:
    """Group id per row: rows whose similarity reaches `threshold` (directly or through others) share a group, so
    k-fold keeps near duplicates on one side, as the dev files were kept apart from the shipped corpora."""
    index = CaseIndex(case_from_row(r) for r in rows)
    position = {(c.text, c.hs6): i for i, c in enumerate(index.cases)}
    parent = list(range(len(rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    row_case = [position.get((clean(str(r["text"])).strip(), str(r["hs6"])[:6])) for r in rows]
    case_row = {c: i for i, c in enumerate(row_case) if c is not None}
    for i, row in enumerate(rows):
        sims = index.similarities(str(row["text"]))
        for c in (sims >= threshold).nonzero()[0]:
            j = case_row.get(int(c))
            if j is not None and j != i:
                parent[find(i)] = find(j)
    return [find(i) for i in range(len(rows))]


def evaluate_kfold(rows: list[dict], k: int = 5, source: str = "import", base_cases: Iterable[Case] = (),
                   limit_per_fold: int | None = None, progress=None, groups: list[int] | None = None,
                   first_stage_by_fold: dict[int, tuple[tuple[float, ...], float] | None] | None = None,
                   only_fold: int | None = None) -> dict:
    """Score each fold with a case index built from the other folds (plus `base_cases`, which must not hold
    the file's rows): the vote never sees its test row. With `first_stage_by_fold`, fold i is also scored with
    the first-stage coefficients given for it (fitted without its rows: `fold_first_stages`). `only_fold` scores
    that fold alone (folds can run in separate processes; their records merge with `summarise`)."""
    warm_up()
    base = list(base_cases)
    records: list[dict] = []
    try:
        for number, fold in enumerate(kfold_splits(len(rows), k, groups=groups), start=1):
            if only_fold is not None and number != only_fold:
                continue
            held = set(fold)
            index = CaseIndex(base + [case_from_row(rows[i], source) for i in range(len(rows)) if i not in held])
            test = [rows[i] for i in fold][:limit_per_fold]
            if first_stage_by_fold is not None:
                first_stage_set(first_stage_by_fold[number])
            fold_records = score_rows(test, index)
            for record in fold_records:
                record["fold"] = number
                record["corpus"] = source
            records.extend(fold_records)
            if progress is not None:
                progress(number, k, len(index), len(test))
    finally:
        first_stage_set(None)
    result = summarise(records)
    result["folds"] = k
    result["records"] = records
    return result


# --- the first stage, cross-fitted ------------------------------------------------------------------------------


def first_stage_kfold(rows: list[dict], k: int = 5, source: str = "import", limit_per_fold: int | None = None,
                      groups: list[int] | None = None, progress=None) -> list[dict]:
    """The first stage's inputs and target on the rows evaluate_kfold scores (same folds, same limit): retrieval
    alone (no case index: the first stage's features do not depend on it), each record with its fold."""
    warm_up()
    records: list[dict] = []
    for number, fold in enumerate(kfold_splits(len(rows), k, groups=groups), start=1):
        test = [rows[i] for i in fold][:limit_per_fold]
        fold_records = score_rows(test, None)
        for record in fold_records:
            record["fold"] = number
            record["corpus"] = source
        records.extend(fold_records)
        if progress is not None:
            progress(number, k, len(test))
    return records


def first_stage_pairs(records: list[dict]) -> list[tuple[tuple[float, ...], bool]]:
    """(first-stage vector, is the retrieval's top code right?) for the records the first stage scores. The
    records must come from retrieval alone (first_stage_kfold), where the top candidate is the retrieval's own."""
    return [
        (tuple(r["features"][f"stage1_{name}"] for name in FIRST_STAGE_FEATURES), bool(r["top1_6"]))
        for r in records
        if r["features"].get("stage1_fits") and r["evidence"] == "lexical"
    ]


def fold_first_stages(records: list[dict], k: int, extra: list[tuple[tuple[float, ...], bool]] = ()
                      ) -> dict[int, tuple[tuple[float, ...], float] | None]:
    """Per fold, first-stage coefficients fitted on the other folds' records (plus `extra`, rows from outside
    the evaluated file): no row is scored by coefficients fitted on it. A fold whose other folds hold fewer than
    MIN_FIT_ROWS such rows (a small file) gets None: it is scored with the shipped coefficients, which were fitted
    on the shipped corpora, not on this file (unless it is one of them, and those are far larger)."""
    out: dict[int, tuple[tuple[float, ...], float] | None] = {}
    for number in range(1, k + 1):
        pairs = [*extra, *first_stage_pairs([r for r in records if r["fold"] != number])]
        out[number] = fit_first_stage(pairs) if len(pairs) >= MIN_FIT_ROWS else None
    return out


def score_rows(rows: list[dict], cases: AnyCaseIndex | None) -> list[dict]:
    records = []
    for row in rows:
        text = str(row["text"])
        gold = "".join(ch for ch in str(row["hs6"]) if ch.isdigit())[:6]
        lang = row.get("lang") or detect_language(text)
        start = time.perf_counter()
        analysis = analyse_text(text, cases)
        ms = (time.perf_counter() - start) * 1000
        codes = [c.code for c in analysis.candidates]
        top = codes[0] if codes else None
        records.append(
            {
                "lang": lang,
                "ms": ms,
                "top": top,
                "conf": analysis.candidates[0].confidence if codes else 0.0,
                "chosen": analysis.chosen is not None,
                "top1_6": bool(top and top == gold),
                "top5_6": gold in codes[:5],
                "top1_4": bool(top and top[:4] == gold[:4]),
                "top1_2": bool(top and top[:2] == gold[:2]),
                "evidence": analysis.candidates[0].source if codes else "lexical",
                "kind": analysis.calibration_kind or text_kind(text),
                "features": dict(analysis.calibration_features),
            }
        )
    return records


def format_report(result: dict) -> str:
    lines = []
    groups = [("all", result)] + [(lang, result["by_lang"][lang]) for lang in ("en", "ko")]
    groups += [(f"evidence={source}", result["by_evidence"][source]) for source in EVIDENCE_SOURCES]
    for name, s in groups:
        if not s["n"]:
            continue
        lines.append(
            f"[{name}] n={s['n']}  top1_6={s['top1_6']:.1%}  top5_6={s['top5_6']:.1%}  "
            f"top1_4={s['top1_4']:.1%}  top1_2={s['top1_2']:.1%}  p50={s['p50_ms']:.1f} ms  p95={s['p95_ms']:.1f} ms"
        )
        lines.append("  confidence band   n     coverage  accuracy@6")
        for band in s["calibration"]:
            acc = "-" if band["accuracy"] is None else f"{band['accuracy']:.1%}"
            lines.append(f"  {band['band']:<15} {band['n']:>5}  {band['coverage']:>8.1%}  {acc:>9}")
        high = s["conf_ge_0_8"]
        acc = "-" if high["accuracy"] is None else f"{high['accuracy']:.1%}"
        chosen = s["chosen"]
        cacc = "-" if chosen["accuracy"] is None else f"{chosen['accuracy']:.1%}"
        lines.append(f"  confidence >= 0.8: n={high['n']} accuracy@6={acc} (rule: {high_confidence_rule(s)})")
        lines.append(
            f"  chosen (confidence >= {chosen['threshold']}): coverage={chosen['coverage']:.1%} accuracy@6={cacc}"
        )
    return "\n".join(lines)


def json_line(result: dict) -> str:
    keys = ("n", "top1_6", "top5_6", "top1_4", "top1_2", "p95_ms")
    out = {k: result[k] for k in keys}
    out["p50_ms"] = result["p50_ms"]
    out["conf_ge_0_8"] = result["conf_ge_0_8"]
    out["by_lang"] = {
        lang: {**{k: s[k] for k in keys}, "p50_ms": s["p50_ms"], "conf_ge_0_8": s["conf_ge_0_8"]}
        for lang, s in result["by_lang"].items()
    }
    out["by_evidence"] = {
        source: {"n": s["n"], "top1_6": s["top1_6"], "conf_ge_0_8": s["conf_ge_0_8"]}
        for source, s in result.get("by_evidence", {}).items()
    }
    return json.dumps(out, ensure_ascii=False, sort_keys=False)


# --- calibration fitted where it is measured ---------------------------------------------------------------------


def calibration_pairs(records: list[dict]) -> dict[tuple[str, str, str], list[tuple[float, bool, int]]]:
    """(input, right?, fold) per (language, source of evidence, text kind) from uncalibrated out-of-fold records."""
    groups: dict[tuple[str, str], list[tuple[float, bool, int]]] = {}
    for r in records:
        if r["top"] is None or r["evidence"] == "explicit":
            continue  # a typed code is 1.0 by rule, not by fit
        if r["kind"] not in MEASURED_KINDS.get(r.get("corpus", ""), (r["kind"],)):
            continue  # this corpus does not measure this kind of text
        groups.setdefault((r["lang"], r["evidence"], r["kind"]), []).append(
            (calibration_input(r["evidence"], r["features"]), bool(r["top1_6"]), int(r.get("fold", 0)))
        )
    return groups


def cross_fitted_reliability(records: list[dict]) -> list[dict]:
    """Reliability per (language, source, band) of maps fitted on the other half of the folds (odd vs even):
    no row is scored by a map fitted on it."""
    table = []
    for (lang, source, kind), pairs in sorted(calibration_pairs(records).items()):
        halves = [[p for p in pairs if p[2] % 2 == parity] for parity in (0, 1)]
        scored: list[tuple[float, bool]] = []
        for own, other in ((halves[0], halves[1]), (halves[1], halves[0])):
            knots = isotonic_knots((x, y) for x, y, _ in other) if len(other) >= MIN_FIT_ROWS // 2 else ()
            scored += [(apply_knots(x, knots) if knots else min(x, UNMEASURED_CAP), y) for x, y, _ in own]
        for lo, hi in BANDS:
            band = [y for c, y in scored if lo <= c < hi]
            table.append({
                "language": lang, "source": source, "kind": kind, "band": f"{lo:.1f}-{min(hi, 1.0):.1f}",
                "n": len(band),
                "mean_confidence": round(sum(c for c, _ in scored if lo <= c < hi) / len(band), 4) if band else None,
                "accuracy": round(sum(band) / len(band), 4) if band else None,
            })
    return table


def fitted_maps(records: list[dict]) -> list[dict]:
    return [
        {"language": lang, "source": source, "kind": kind, "n": len(pairs),
         "knots": [list(k) for k in isotonic_knots((x, y) for x, y, _ in pairs)]}
        for (lang, source, kind), pairs in sorted(calibration_pairs(records).items())
        if len(pairs) >= MIN_FIT_ROWS
    ]
