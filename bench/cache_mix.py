"""The per-code cache under a realistic mix: many wordings, Korean and English, about a set of HS codes.

    python -m devtools.stack exec -- python -m bench.cache_mix [--rounds 3] [--clients 4] [--codes 20]
    python -m bench.cache_mix --url http://127.0.0.1:8000 --metrics-token T   # a running stack (no invalidation)

People ask about the same codes in endless wordings: "냉동 삼겹살 수입 요건", "HS code for frozen pork belly?",
"0203.29 관세율 알려줘". Each round sends every wording of every code once, shuffled, from `clients` people at
once (closed loop, over WebSocket like bench.ws_load), and measures:

* the hit ratio of the per-code cache (`code_buttons`), from the /metrics counters before and after the round
  (tradechat_cache_hits_total / tradechat_cache_misses_total{cache="code_buttons"});
* time to buttons (message sent → detail_page_buttons_complete) of hits and of misses, p50/p90/p99. The misses
  are the floor of the same run along the same path: the analysis ran and the three buttons were built;
* how many wordings resolved to the code they were written about (the rest resolved elsewhere or to nothing).

Every text carries a classification-neutral tag (bench.common.cold_tag), so the per-question cache never
answers: what is measured is the cache shared across wordings. Each round starts cold: `manage.py import_hsk
--force` reloads the shipped HSK table, which bumps the HSK data edition and so makes every cached entry
unreachable (as any import does). The rounds give the spread.

With no --url, a bench stack of its own is started (bench.stack: daphne + Celery like `make run`, a fresh
database) and the shipped data is loaded as `make run` does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from . import common
from .ws_load import Client, Message, Stats

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CACHE = "code_buttons"
HIT_P99_TARGET_MS = 1000.0
HIT_RATIO_TARGET = 0.70

# (HS 2022 subheading, Korean name, English name): everyday goods Korean traders ask about.
CODES = (
    ("8517.13", "스마트폰", "smartphones"),
    ("0203.29", "냉동 삼겹살", "frozen pork belly"),
    ("8205.51", "스테인리스 병따개", "stainless steel bottle opener"),
    ("8703.80", "전기자동차", "electric cars"),
    ("8471.30", "노트북 컴퓨터", "laptop computers"),
    ("3304.99", "화장품 크림", "skin care cream"),
    ("0306.17", "냉동 새우", "frozen shrimp"),
    ("2005.99", "김치", "kimchi"),
    ("1902.30", "라면", "instant noodles"),
    ("8711.60", "전기 자전거", "electric bicycles"),
    ("2208.90", "소주", "soju"),
    ("0901.21", "볶은 커피", "roasted coffee"),
    ("6109.10", "면 티셔츠", "cotton t-shirts"),
    ("6403.99", "가죽 구두", "leather shoes"),
    ("8418.10", "냉장고", "refrigerators"),
    ("8450.11", "세탁기", "washing machines"),
    ("8528.72", "텔레비전", "television sets"),
    ("9018.90", "의료기기", "medical instruments"),
    ("4011.10", "승용차 타이어", "car tyres"),
    ("8507.60", "리튬이온 배터리", "lithium-ion batteries"),
    ("8542.31", "반도체 프로세서", "processor chips"),
    ("0805.10", "오렌지", "oranges"),
    ("1006.30", "쌀", "milled rice"),
    ("7208.51", "열연 강판", "hot-rolled steel plate"),
    ("8414.51", "선풍기", "electric fans"),
    ("3401.11", "세숫비누", "toilet soap"),
    ("0402.21", "분유", "milk powder"),
    ("9102.11", "손목시계", "wrist watches"),
    ("9503.00", "장난감", "toys"),
    ("3923.30", "플라스틱 병", "plastic bottles"),
)

# The wordings of one code: with and without the code, about the code, its rate, its rules, its statistics.
KOREAN = (
    "{ko} HS 코드가 뭐야?",
    "{ko} 수입할 때 필요한 요건 알려줘",
    "{ko} 수출 통계 보여줘",
    "{ko} 관세율 알려주세요",
    "{code} {ko} 관세율은 얼마인가요",
    "HS {code} 규제 정보 알려줘",
    "{code} 수출 통계 보여줘",
    "HS코드 {code} {ko} 수입 요건",
)
ENGLISH = (
    "What is the HS code for {en}?",
    "import requirements for {en}",
    "{en} tariff",
    "tariff rate of HS {code}",
    "HS {code} {en} export statistics",
    "import requirements for HS {code}",
)


def wordings(codes: tuple = CODES) -> list[tuple[str, str, str]]:
    """(intended code, language, text) for every wording of every code."""
    out = []
    for code, ko, en in codes:
        out += [(code, "ko", template.format(code=code, ko=ko)) for template in KOREAN]
        out += [(code, "en", template.format(code=code, en=en)) for template in ENGLISH]
    return out


# --- /metrics ------------------------------------------------------------------------------------------------


async def cache_counters(base_url: str, token: str, cache: str = CACHE) -> tuple[float, float]:
    """(hits, misses) of one cache, from a scrape of /metrics."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        response = await http.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        response.raise_for_status()
    hits = misses = 0.0
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.labels.get("cache") != cache:
                continue
            if sample.name == "tradechat_cache_hits_total":
                hits = sample.value
            elif sample.name == "tradechat_cache_misses_total":
                misses = sample.value
    return hits, misses


# --- one round -----------------------------------------------------------------------------------------------


class _MixClient(Client):
    """A bench.ws_load client that also keeps the code each message resolved to."""

    def _frame(self, frame: dict, now: float) -> None:
        super()._frame(frame, now)
        if frame.get("event") == "detail_page_buttons_complete":
            message = self.by_id.get(frame.get("message_id"))
            if message is not None:
                data = frame.get("data") or {}
                message.resolved = data.get("summary", {}).get("hscode_detected")
                message.candidates = bool(data.get("candidates"))  # no code resolved: candidates offered


async def _round(base_url: str, plan: list[tuple[str, str, str]], *, clients: int, nonce: int,
                 timeout: float) -> dict:
    stats = Stats()
    sessions = await common.sessions_create(base_url, clients)
    pool = [_MixClient(i, s, stats) for i, s in enumerate(sessions)]
    for client in pool:
        await client.open()
    queue = list(enumerate(plan))
    queue.reverse()
    sent: list[tuple[Message, str, str]] = []
    t0 = time.perf_counter()

    async def person(client: _MixClient) -> None:
        while queue:
            index, (code, language, text) = queue.pop()
            message = Message(client.number, index, time.perf_counter(), True,
                              f"{text} {common.cold_tag(nonce * 1_000_000 + index)}")
            message.resolved, message.candidates = None, False
            sent.append((message, code, language))
            client.submit(message)
            try:
                await asyncio.wait_for(message.done.wait(), timeout)
            except TimeoutError:
                stats.timeouts += 1
                stats.note(f"message {message.message_id} not finished in {timeout}s ({dict(message.events)})")
            if client.reader is not None and client.reader.done():
                return

    await asyncio.gather(*(person(c) for c in pool))
    wall = time.perf_counter() - t0
    await asyncio.sleep(0.3)
    for client in pool:
        await client.close()

    hits, misses, candidates = common.Hist(), common.Hist(), common.Hist()
    unresolved = as_intended = 0
    for message, code, _language in sent:
        if message.t_complete is None or message.cache_hit is None:
            unresolved += 1
            continue
        if message.candidates:  # candidate buttons: no code to look up, built each time
            candidates.add(message.t_complete - message.t_sent)
            continue
        (hits if message.cache_hit else misses).add(message.t_complete - message.t_sent)
        as_intended += (message.resolved or "").startswith(code)
    return {
        "messages": len(sent),
        "wall_s": round(wall, 2),
        "hits": hits.summary(),
        "misses": misses.summary(),
        "candidates": candidates.summary(),
        "no_code": unresolved,
        "resolved_as_intended": as_intended,
        "errors": {"error_frames": stats.error_frames, "closed": stats.closed, "timeouts": stats.timeouts,
                   "lost": sum(c.lost() for c in pool), "duplicates": stats.duplicates,
                   "samples": stats.error_samples[:3]},
    }


# --- the measurement (what bench/run.py can call) -------------------------------------------------------------


async def measure(base_url: str, *, metrics_token: str, invalidate: Callable[[], None] | None = None,
                  rounds: int = 3, clients: int = 4, codes: int = 20, seed: int = 20, timeout: float = 90.0) -> dict:
    """Run `rounds` rounds of the mix; `invalidate` (called before each round) makes the cache cold."""
    rng = random.Random(seed)
    base_plan = wordings(CODES[:codes])
    out: dict = {"codes": min(codes, len(CODES)), "wordings": len(base_plan), "clients": clients, "rounds": []}
    warm_plan = [(code, "ko", f"{code} 관세율") for code, _ko, _en in CODES[:4]]
    await _round(base_url, warm_plan, clients=min(clients, 2), nonce=rng.randrange(1, 2**20), timeout=timeout)
    for number in range(rounds):
        if invalidate is not None:
            invalidate()
        plan = list(base_plan)
        rng.shuffle(plan)
        before = await cache_counters(base_url, metrics_token)
        result = await _round(base_url, plan, clients=clients, nonce=rng.randrange(1, 2**20), timeout=timeout)
        after = await cache_counters(base_url, metrics_token)
        hit_count, miss_count = after[0] - before[0], after[1] - before[1]
        result["counters"] = {"hits": int(hit_count), "misses": int(miss_count)}
        result["hit_ratio"] = round(hit_count / (hit_count + miss_count), 4) if hit_count + miss_count else None
        out["rounds"].append(result)
        print(f"round {number + 1}: hit ratio {result['hit_ratio']}, hits p99 {result['hits']['p99']} ms, "
              f"misses p99 {result['misses']['p99']} ms", file=sys.stderr, flush=True)
    out["summary"] = summary(out["rounds"], invalidated=invalidate is not None)
    return out


def _spread(values: list) -> dict:
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "min": None, "max": None, "stdev": None}
    return {"mean": round(statistics.fmean(values), 3), "min": min(values), "max": max(values),
            "stdev": round(statistics.stdev(values), 3) if len(values) > 1 else 0.0}


def summary(rounds: list[dict], *, invalidated: bool) -> dict:
    worst_hit_p99 = max((r["hits"]["p99"] for r in rounds if r["hits"]["p99"] is not None), default=None)
    worst_ratio = min((r["hit_ratio"] for r in rounds if r["hit_ratio"] is not None), default=None)
    return {
        "cold_start_each_round": invalidated,
        "hit_ratio": _spread([r["hit_ratio"] for r in rounds]),
        "hits_p50_ms": _spread([r["hits"]["p50"] for r in rounds]),
        "hits_p99_ms": _spread([r["hits"]["p99"] for r in rounds]),
        "misses_p50_ms": _spread([r["misses"]["p50"] for r in rounds]),
        "misses_p99_ms": _spread([r["misses"]["p99"] for r in rounds]),
        "targets": {
            "hit_ratio_at_least_0.70": worst_ratio is not None and worst_ratio >= HIT_RATIO_TARGET,
            "hit_p99_within_1s": worst_hit_p99 is not None and worst_hit_p99 <= HIT_P99_TARGET_MS,
        },
    }


def markdown(result: dict) -> str:
    lines = [
        f"{result['codes']} codes × {result['wordings'] // max(1, result['codes'])} wordings "
        f"({len(KOREAN)} Korean, {len(ENGLISH)} English) = {result['wordings']} messages a round, "
        f"{result['clients']} people at once, {len(result['rounds'])} rounds"
        + (", each started cold by `import_hsk --force`" if result["summary"]["cold_start_each_round"] else ""),
        "",
        "| round | hit ratio (code_buttons) | hits | hits p50 / p99 ms | misses | misses p50 / p99 ms "
        "| candidates only | no code | resolved as intended | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for number, r in enumerate(result["rounds"], start=1):
        errors = sum(v for k, v in r["errors"].items() if k != "samples")
        lines.append(
            f"| {number} | {r['hit_ratio']} | {r['hits']['count']} | {r['hits']['p50']} / {r['hits']['p99']} "
            f"| {r['misses']['count']} | {r['misses']['p50']} / {r['misses']['p99']} | {r['candidates']['count']} "
            f"| {r['no_code']} "
            f"| {r['resolved_as_intended']} / {r['messages']} | {errors} |"
        )
    s = result["summary"]
    lines += [
        "",
        f"Hit ratio mean {s['hit_ratio']['mean']} (min {s['hit_ratio']['min']}, max {s['hit_ratio']['max']}); "
        f"hits p99 mean {s['hits_p99_ms']['mean']} ms (max {s['hits_p99_ms']['max']}); "
        f"misses p99 mean {s['misses_p99_ms']['mean']} ms (max {s['misses_p99_ms']['max']}).",
        f"Targets: hit ratio ≥ 0.70 in every round: {s['targets']['hit_ratio_at_least_0.70']}; "
        f"hits within 1 s at p99 in every round: {s['targets']['hit_p99_within_1s']}.",
    ]
    return "\n".join(lines)


# --- standalone ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.cache_mix", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_URL"), help="drive this running stack")
    parser.add_argument("--metrics-token", default=os.environ.get("METRICS_TOKEN", ""))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--codes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=90.0)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    common.raise_fd_limit()
    result: dict = {"timestamp": time.strftime("%Y%m%dT%H%M%S"), "machine": common.machine()}
    stack = None
    try:
        if args.url:
            if not args.metrics_token:
                parser.error("--metrics-token (or METRICS_TOKEN) is needed to read the counters of a running stack")
            base_url, token, invalidate = args.url, args.metrics_token, None
            result["stack"] = f"external {base_url}"
        else:
            from .stack import BenchStack

            print("starting the bench stack and loading the shipped data …", file=sys.stderr, flush=True)
            stack = BenchStack(name="cache-mix").start()  # loads the shipped data, as make run does
            base_url, token, invalidate = stack.base_url, stack.metrics_token, stack.data_editions_bump
            result["stack"] = f"bench.stack (daphne + celery -c 2, like make run), {stack.database_kind}"
        result.update(asyncio.run(measure(base_url, metrics_token=token, invalidate=invalidate, rounds=args.rounds,
                                          clients=args.clients, codes=args.codes, seed=args.seed,
                                          timeout=args.timeout)))
    finally:
        if stack is not None:
            stack.stop()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{result['timestamp']}-cache-mix.json"
    path.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    print(markdown(result))
    print(f"written: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
