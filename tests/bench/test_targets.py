"""bench.run's targets: issue 20's per-code cache targets are judged on every round of the mix."""

from __future__ import annotations

from bench.cache_mix import markdown, summary
from bench.run import targets


def _round(ratio: float, hit_p99: float) -> dict:
    hits = {"count": 10, "p50": hit_p99 / 2, "p90": hit_p99 * 0.9, "p99": hit_p99, "max": hit_p99}
    misses = {"count": 4, "p50": 300.0, "p90": 500.0, "p99": 600.0, "max": 600.0}
    return {"messages": 20, "wall_s": 3.0, "hits": hits, "misses": misses, "candidates": {"count": 6},
            "no_code": 0, "resolved_as_intended": 12, "errors": {"timeouts": 0, "lost": 0, "samples": []},
            "counters": {"hits": 10, "misses": 4}, "hit_ratio": ratio}


def _cache_targets(rounds: list[dict]) -> dict[str, bool]:
    mix = {"codes": 2, "wordings": 28, "clients": 2, "rounds": rounds,
           "summary": summary(rounds, invalidated=True)}
    found = {t["target"]: t["met"] for t in targets({"headline": {"cache_mix": mix}}) if "per-code" in t["target"]}
    assert "| 1 |" in markdown(mix)
    return found


def test_cache_targets_hold_only_when_every_round_meets_them():
    met = _cache_targets([_round(0.75, 400.0), _round(0.72, 900.0)])
    assert len(met) == 2 and all(met.values()), met


def test_one_slow_round_misses_the_hit_latency_target_and_one_cold_round_the_ratio():
    met = _cache_targets([_round(0.75, 400.0), _round(0.65, 1200.0)])
    assert list(met.values()) == [False, False], met


def test_no_cache_mix_means_no_cache_target_is_claimed():
    assert not [t for t in targets({"headline": {}}) if "per-code" in t["target"]]
