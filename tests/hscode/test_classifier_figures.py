"""The classifier's documented figures hold: the README's 5-fold figure over the shipped KCS rulings is re-measured
here, and a regression beyond the stated noise fails the run.

The rulings are shipped with the project (data/kcs/), so the figure can be measured on any checkout; each fold is
scored with an index of the other folds plus the trade-name corpus, never with its own rows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import call_command

# Five indexes of ~34,600 cases are built: ~40 s on a quiet machine, over 300 s (the default timeout) when the two
# shared cores run a dozen processes. The figure is what is tested, not the time.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shipped_data"), pytest.mark.timeout(1800)]

RULINGS = Path(__file__).resolve().parents[2] / "data" / "kcs" / "hs_cases_kcs_rulings_ko.jsonl"
# README, "HS code analysis": 5-fold over the 359 shipped KCS rulings.
DOCUMENTED_TOP1, DOCUMENTED_TOP5 = 0.512, 0.691
# About 11 of 359 rows: what a change of tie-breaking or index build moves without the method changing.
NOISE = 0.03


def test_five_fold_figures_over_the_shipped_rulings_hold_what_the_readme_says(capsys):
    call_command("evaluate_classifier", str(RULINGS), "--kfold", "5", "--case-source", "kcs_ruling", "--json")
    metrics = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert metrics["n"] == 359
    assert metrics["top1_6"] >= DOCUMENTED_TOP1 - NOISE, metrics
    assert metrics["top5_6"] >= DOCUMENTED_TOP5 - NOISE, metrics
    # calibrated: whatever reaches 0.8 is right at least 80 % of the time
    high = metrics["conf_ge_0_8"]
    assert high["n"] == 0 or high["accuracy"] >= 0.8, high
