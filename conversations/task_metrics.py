"""parallel_task_metrics in the seed 002 shape: each task records itself; the last one sums up.

Recorded on the message row a step already holds locked, in the transaction that does the step's work (its
last commit, or its give-up): no transaction of its own."""

from __future__ import annotations

import resource
from datetime import datetime
from typing import Any

from .models import ChatMessage

TASK_NAMES = {
    "task_a": "ai_response_generation",
    "task_b": "detail_page_preparation",
    "task_c": "chat_history_saving",
}
FINISHED = {"completed", "failed", "stopped"}


def _ms_between(start: str, end: str) -> int:
    parse = datetime.fromisoformat
    elapsed = parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))
    return max(0, round(elapsed.total_seconds() * 1000))


def task_metrics_put(message: ChatMessage, key: str, *, start_time: str, end_time: str | None, status: str,
                     **counters: Any) -> None:
    """Merge one task's record into a message the caller holds locked and saves (with "parallel_task_metrics" in
    its update_fields): the metrics ride in a transaction that already exists. Idempotent: a rerun overwrites its
    own entry; once all three have finished, the summary is added."""
    entry: dict[str, Any] = {"name": TASK_NAMES[key], "start_time": start_time, "end_time": end_time,
                             "duration_ms": _ms_between(start_time, end_time) if end_time else None,
                             "status": status, **counters}
    metrics = message.parallel_task_metrics or {"task_execution": {}}
    metrics.setdefault("task_execution", {})[key] = entry
    tasks = metrics["task_execution"]
    if set(tasks) == set(TASK_NAMES) and all(t["status"] in FINISHED for t in tasks.values()):
        metrics.update(_performance_analysis(tasks))
    message.parallel_task_metrics = metrics


def _performance_analysis(tasks: dict[str, dict]) -> dict[str, Any]:
    start = min(t["start_time"] for t in tasks.values())
    end = max(t["end_time"] for t in tasks.values())
    wall = max(1, _ms_between(start, end))
    busy = sum(t["duration_ms"] for t in tasks.values())
    bottleneck = max(tasks, key=lambda k: tasks[k]["duration_ms"])
    network_calls = sum(int(t.get("context7_calls", 0)) + int(t.get("llm_calls", 0)) for t in tasks.values())
    # ru_maxrss is KiB on Linux: the peak of the worker process that summed up.
    memory_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    # Each task reports the CPU time its process spent on it; the peak is the busiest task's share of a core.
    cpu_peak = max((t.get("cpu_ms", 0) / t["duration_ms"] for t in tasks.values() if t["duration_ms"]), default=0)
    suggestions = [f"{TASK_NAMES[bottleneck]} 작업이 병목입니다 ({tasks[bottleneck]['duration_ms']} ms)"]
    if tasks["task_b"].get("context7_calls"):
        suggestions.append("Context7 호출 결과는 Redis에 캐시됩니다 (같은 질의는 재호출하지 않음)")
    if tasks["task_b"].get("cache_hit"):
        suggestions.append("상세페이지 버튼을 캐시에서 제공했습니다")
    return {
        "performance_analysis": {
            "total_wall_clock_time": wall,
            "parallel_efficiency": round(busy / (len(tasks) * wall), 2),
            "bottleneck_task": bottleneck,
            "resource_utilization": {
                "cpu_peak": f"{min(100, round(cpu_peak * 100))}%",
                "memory_peak": f"{memory_mb}MB",
                "network_calls": network_calls,
            },
        },
        "optimization_suggestions": suggestions,
    }
