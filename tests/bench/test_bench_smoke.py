"""The benchmark harness keeps working: ws_load and the floor against the live stack, 2 clients x 2 messages."""

from __future__ import annotations

import json

import pytest

from bench.procs import StackProcesses
from bench.run import LATENCY_KEYS, measure, targets

pytestmark = pytest.mark.integration

SUMMARY_KEYS = {"p50", "p90", "p99", "p999", "max"}


async def test_ws_load_against_the_live_stack(live):
    processes = StackProcesses({"daphne": [live.daphnes[0][1].pid], "worker": [w.pid for w in live.workers]})
    result = await measure(live.base_url, [("smoke", 2, "closed", {"messages": 2})], processes=processes,
                           redis_url=live.env["REDIS_URL"], floor_count=5, timeout=60)
    json.dumps(result)  # the result file is plain JSON

    for floor in ("floor_celery_ms", "floor_echo_ms"):
        assert {"p50", "p99"} <= set(result[floor]), result[floor]
        assert result[floor]["p50"] > 0, result[floor]
    (profile,) = result["profiles"]
    assert {"name", "clients", "mode", "throughput_msg_s", "lost_events", "errors", "cpu_ms_per_msg"} <= set(profile)
    assert (profile["name"], profile["clients"], profile["mode"]) == ("smoke", 2, "closed")
    assert profile["lost_events"] == 0, profile["lost_detail"]
    assert profile["errors"] == 0, profile["error_detail"]
    assert profile["messages_finished"] == 4
    assert profile["throughput_msg_s"] > 0
    assert profile["cpu_ms_per_msg"] > 0
    for key in LATENCY_KEYS:
        summary = profile[key]
        assert SUMMARY_KEYS <= set(summary), (key, summary)
        assert summary["count"] == 4 and 0 < summary["p50"] <= summary["max"], (key, summary)
        assert summary["ratio_p50"] == pytest.approx(summary["p50"] / result["floor_celery_ms"]["p50"], rel=0.01)
    assert isinstance(targets(result), list)
