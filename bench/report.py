"""The Markdown next to each result JSON (bench/results/<timestamp>.md)."""

from __future__ import annotations

from .cache_mix import markdown as cache_mix_markdown


def _f(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _s(spread: dict) -> str:
    """median (min–max)"""
    if not spread or spread.get("median") is None:
        return "–"
    return f"{_f(spread['median'])} ({_f(spread['min'])}–{_f(spread['max'])})"


def _profiles(section: dict) -> list[str]:
    lines = ["| profile | runs | msg/s median (min–max) | server CPU ms/msg | first button p50 / p99 ms | ×floor | "
             "buttons complete p50 | answer complete p50 | task C p50 | finished p50 | lost / dup / ooo / errors "
             "| back-filled |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for p in section.get("profiles", []):
        lines.append(
            f"| {p['name']} | {p['repeats']} | {_s(p['throughput_msg_s'])} | {_s(p['cpu_ms_per_msg'])} | "
            f"{_f(p['first_button_ms']['p50']['median'])} / {_f(p['first_button_ms']['p99']['median'])} | "
            f"{_f(p['first_button_ms']['ratio_p50']['median'])} | {_f(p['complete_ms']['p50']['median'])} | "
            f"{_f(p['answer_complete_ms']['p50']['median'])} | {_f(p['task_c_ms']['p50']['median'])} | "
            f"{_f(p['finished_ms']['p50']['median'])} | {p['lost_events']} / {p['duplicates']} / "
            f"{p['out_of_order']} / {p['errors']} | {_f(p['backfilled_frames'])} |")
    lines.append("")
    lines.append("CPU ms per message by process (median of the runs): " + "; ".join(
        f"{p['name']}: " + ", ".join(f"{k} {_f(v['median'])}" for k, v in p["cpu_ms_per_msg_by_process"].items())
        for p in section.get("profiles", [])))
    outcomes = []
    for p in section.get("profiles", []):
        run = p["runs"][-1]
        outcomes.append(f"{p['name']}: {run['outcomes']}, answer deltas/msg {run['answer_deltas_per_msg']}, "
                        f"Context7 calls/msg {run['context7_calls_per_msg']}, frames/msg {run['frames_per_msg']}")
    lines += ["", "Outcomes (last run of each): " + "; ".join(outcomes), ""]
    return lines


def _sweep(sweep: dict) -> list[str]:
    lines = [f"Open loop, {sweep['clients']} clients, {sweep['duration_s']} s per step after {sweep['warmup_s']} s "
             f"unmeasured: **highest offered rate with first-button p99 ≤ {_f(sweep['limit_first_button_p99_ms'])} ms "
             f"= {_f(sweep['highest_rate_meeting_limit'])} msg/s** (missed at "
             f"{_f(sweep['lowest_rate_missing_limit'])}); at that rate over {sweep['at_highest_rate']['runs']} runs "
             f"p99 {_s(sweep['at_highest_rate']['first_button_p99_ms'])} ms, met in "
             f"{sweep['at_highest_rate']['met_in_runs']}.", "",
             "| offered msg/s | carried msg/s | first button p50 / p99 ms | finished p50 / p99 ms | CPU ms/msg | "
             "floor ms | met |", "|---|---|---|---|---|---|---|"]
    for s in sweep["steps"]:
        lines.append(f"| {_f(s['offered_msg_s'])} | {_f(s['throughput_msg_s'])} | {_f(s['first_button_ms']['p50'])} / "
                     f"{_f(s['first_button_ms']['p99'])} | {_f(s['finished_ms']['p50'])} / "
                     f"{_f(s['finished_ms']['p99'])} | {_f(s['cpu_ms_per_msg'])} | {_f(s['floor_p50_ms'])} | "
                     f"{'yes' if s['meets_limit'] else 'no'} |")
    return [*lines, ""]


def _floors(section: dict) -> list[str]:
    d = section.get("floor_drift") or {}
    method = (section.get("floors") or [{}])[0].get("floor_celery_ms", {}).get("method", "")
    lines = [f"App-path floor ({method}): {d.get('readings')} readings, p50 first {_f(d.get('first_ms'))} ms, "
             f"last {_f(d.get('last_ms'))}, min {_f(d.get('min_ms'))}, max {_f(d.get('max_ms'))}: drift max/min "
             f"{_f(d.get('max_over_min_pct'))} %, last/first {_f(d.get('last_over_first_pct'))} %. "
             "Each run's ratios use the mean of the readings just before and just after it.", ""]
    return lines


def _idle(idle: dict) -> list[str]:
    lines = ["| sockets | alive after hold | daphne RSS MB | KiB per socket | idle CPU % of a core | connect CPU "
             "ms/socket |", "|---|---|---|---|---|---|"]
    for s in idle["steps"]:
        lines.append(f"| {s['target']:,} | {s['alive']:,} | {s['daphne_rss_mb']} | {s['rss_kb_per_socket']} | "
                     f"{s['idle_cpu_pct_of_one_core']} | {s['connect_cpu_ms_per_socket']} |")
    return [*lines, ""]


def markdown(result: dict) -> str:
    m = result["machine"]
    lines = [f"# Benchmark {result['timestamp']} ({result['profile']})", "",
             f"Machine: {m.get('cpus')} CPUs ({m.get('cpu', '?')}), Python {m.get('python')}; load average at start "
             f"{m.get('loadavg_at_start')}, at end {m.get('loadavg_at_end')}; commit {m.get('git', '?')}"
             f"{' + uncommitted changes' if m.get('dirty') else ''}. Headline database: "
             f"{result.get('database_choice', 'external stack')}. Wall time {result.get('wall_s')} s.", ""]
    for key, title in (("headline", "Headline"), ("mix", "Message mix"), ("secondary", "Secondary")):
        section = result.get(key)
        if not section:
            continue
        lines += [f"## {title}: {section['label']}", ""]
        if section.get("fakes"):
            f = section["fakes"]
            lines += [f"Fake LLM endpoint streaming {f['llm']['deltas']} deltas {f['llm']['delay_s']} s apart; fake "
                      f"Context7 on (library {f['context7']['library']}, cache {f['context7']['cache']}).", ""]
        lines += _floors(section) + _profiles(section)
        if section.get("sweep"):
            lines += _sweep(section["sweep"])
        if section.get("idle_connections"):
            lines += ["Idle sockets (one daphne process):", "", *_idle(section["idle_connections"])]
        if section.get("cache_mix"):
            lines += ["Per-code cache under a mix of wordings (bench.cache_mix):", "",
                      cache_mix_markdown(section["cache_mix"]), ""]
    if result.get("skipped"):
        lines += ["Skipped to stay within the time budget: " + "; ".join(result["skipped"]), ""]
    lines += ["## Targets", "", "| target | measured | met |", "|---|---|---|"]
    for t in result.get("targets", []):
        lines.append(f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else '**no**'} |")
    if result.get("failed"):
        lines += ["", "**FAILED:** " + "; ".join(result["failed"])]
    return "\n".join(lines) + "\n"
