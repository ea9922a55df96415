"""Evaluate analyse_text on labelled JSONL ({"text", "hs6", "lang"?} per line). Plain Python."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

from .analyse import CONFIDENCE_THRESHOLD, analyse_text, warm_up
from .cases import CaseIndex
from .text import detect_language

BANDS = ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.01))


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


def case_index_from_rows(rows: Iterable[dict]) -> CaseIndex:
    return CaseIndex((str(r["text"]), str(r["hs6"])) for r in rows)


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
    high = [r for r in records if r["top"] is not None and r["conf"] >= 0.8]
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


def evaluate(rows: list[dict], cases: CaseIndex | None = None) -> dict:
    """Accuracy, calibration and latency, overall and per language."""
    warm_up()
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
            }
        )
    result = _summary(records)
    result["by_lang"] = {lang: _summary([r for r in records if r["lang"] == lang]) for lang in ("en", "ko")}
    return result


def format_report(result: dict) -> str:
    lines = []
    groups = [("all", result)] + [(lang, result["by_lang"][lang]) for lang in ("en", "ko")]
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
        lines.append(f"  confidence >= 0.8: n={high['n']} accuracy@6={acc}")
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
    return json.dumps(out, ensure_ascii=False, sort_keys=False)
