"""Calibration fitted where it is measured: isotonic maps per language, source and kind of text (issue 15)."""

import itertools

from hscode.analysis import calibration
from hscode.analysis.calibration import (
    CONFIDENCE_THRESHOLD,
    UNMEASURED_CAP,
    apply_knots,
    calibrate,
    isotonic_knots,
    text_kind,
)
from hscode.analysis.evaluation import cross_fitted_reliability, fitted_maps


def test_a_band_says_less_than_its_observed_accuracy_when_it_has_few_rows():
    pairs = [(0.9, i < 27) for i in range(30)]  # 90 % right on 30 rows
    (knot,) = isotonic_knots(pairs)
    assert 0.7 < knot[1] < 0.9


def test_maps_never_fall_as_the_raw_score_rises():
    pairs = [(i / 300, (i * 7) % 10 < (i // 30)) for i in range(300)]
    knots = isotonic_knots(pairs)
    assert len(knots) > 1
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(knots))
    assert apply_knots(0.0, knots) == knots[0][1] and apply_knots(1.0, knots) == knots[-1][1]


def test_a_stratum_never_measured_is_not_claimed(monkeypatch):
    monkeypatch.setattr(calibration, "CALIBRATION_MAPS", {("en", "cases", "short"): ((0.1, 0.1), (0.9, 0.85))})
    assert calibrate(0.95, "en", "cases", "short") == 0.85
    assert calibrate(0.95, "ko", "cases", "short") == UNMEASURED_CAP < CONFIDENCE_THRESHOLD
    assert text_kind("Frozen beef chuck roll") == "short" and text_kind("x" * 200) == "long"


def _records(fold: int, right: bool, n: int) -> list[dict]:
    return [{"top": "851713", "evidence": "cases", "lang": "en", "kind": "short", "top1_6": right, "fold": fold,
             "conf": 0.9, "features": {"case_share": 1.0, "case_similarity": 0.9}} for _ in range(n)]


def test_reliability_is_cross_fitted_no_row_is_scored_by_a_map_fitted_on_it():
    # odd folds are always right, even folds always wrong, at the same raw score
    records = _records(1, True, 100) + _records(2, False, 100)
    table = {row["band"]: row for row in cross_fitted_reliability(records)}
    # the even rows were scored by the odd rows' map (claims ~0.97) and are all wrong, and vice versa
    assert table["0.8-1.0"]["n"] == 100 and table["0.8-1.0"]["accuracy"] == 0.0
    assert table["0.0-0.2"]["n"] == 100 and table["0.0-0.2"]["accuracy"] == 1.0
    # the shipped map is fitted on all rows: 50 % at that score
    (fitted,) = fitted_maps(records)
    assert fitted["n"] == 200 and 0.4 < fitted["knots"][0][1] < 0.5
