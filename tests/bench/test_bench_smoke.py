"""The benchmark harness keeps working: the floors and 2 clients x 2 messages (twice) against the live stack."""

from __future__ import annotations

import json

import pytest

from bench.procs import StackProcesses
from bench.run import LATENCY_KEYS, measure_stack, targets

pytestmark = pytest.mark.integration

SUMMARY_KEYS = {"median", "min", "max", "runs"}


async def test_a_profile_is_repeated_between_floors_and_reports_its_spread(live):
    processes = StackProcesses({"daphne": [live.daphnes[0][1].pid], "worker": [w.pid for w in live.workers]})
    section = await measure_stack("smoke", live.base_url, processes, live.env["REDIS_URL"], None,
                                  [("smoke", 2, "closed", {"messages": 2}, 2)], None, 5, 60)
    json.dumps(section)  # the result file is plain JSON

    # A floor before the first run and after each run, and their drift.
    assert len(section["floors"]) == 3
    for floor in section["floors"]:
        assert floor["floor_celery_ms"]["p50"] > 0 and floor["floor_echo_ms"]["p50"] > 0, floor
    assert section["floor_drift"]["readings"] == 3
    (profile,) = section["profiles"]
    assert (profile["name"], profile["clients"], profile["repeats"]) == ("smoke", 2, 2)
    assert SUMMARY_KEYS <= set(profile["throughput_msg_s"]) and len(profile["throughput_msg_s"]["runs"]) == 2
    assert profile["throughput_msg_s"]["min"] <= profile["throughput_msg_s"]["median"] <= \
        profile["throughput_msg_s"]["max"]
    assert (profile["lost_events"], profile["duplicates"], profile["out_of_order"]) == (0, 0, 0), profile["failed"]
    assert profile["errors"] == 0, [r["error_detail"] for r in profile["runs"]]
    for run in profile["runs"]:
        # "Finished" is buttons, answer and task C: every message of the run got there.
        assert run["messages_finished"] == 4 and run["finished_ms"]["count"] == 4, run["error_detail"]
        assert run["task_c_ms"]["count"] == 4
        assert run["throughput_msg_s"] > 0 and run["cpu_ms_per_msg"] > 0
        for key in LATENCY_KEYS:
            summary = run[key]
            assert 0 < summary["p50"] <= summary["max"], (key, summary)
            assert summary["ratio_p50"] == pytest.approx(summary["p50"] / run["floor_p50_ms"], rel=0.02)
        # The test stack's daphne has no delivery tap: back-fills are unknown there, not zero.
        assert run["backfilled_frames"] is None
    assert isinstance(targets({"headline": section}), list)
