"""RedisChannelLayer (as configured in config/settings.py) against RedisPubSubChannelLayer, on this machine.

    python -m bench.layers [--receivers 200] [--json out.json]

A receiver process (standing in for one daphne process) holds `receivers` channels; a sender process
(standing in for a Celery worker) calls group_send. Both measure time with CLOCK_MONOTONIC, which is one clock
for every process of the machine, so each delivery's latency is recv time - send time.

Scenarios, each for both layers:
  fanout    one group of `receivers` members, paced group_sends: latency until every member has it
  app       `receivers` groups of one member each (one conversation per socket, as the app has), paced
            group_sends over the groups
  burst     the app shape, `burst` group_sends back to back: what is dropped when a process's inbox fills
Senders use async_to_sync(group_send) per call, as conversations.events.event_broadcast does in the worker (a new
event loop and connection per call); `sender_call_ms` is what that call costs the sender.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import multiprocessing as mp
import os
import sys
import threading
import time

from . import common


def _layer_config() -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings  # settings only: no app registry needed

    config = dict(settings.CHANNEL_LAYERS["default"]["CONFIG"])
    config["prefix"] = "bench-layers"  # never the app's keys, whatever Redis this runs on
    return config


def make_layer(kind: str, config: dict):
    if kind == "core":
        from channels_redis.core import RedisChannelLayer

        return RedisChannelLayer(**config)
    from channels_redis.pubsub import RedisPubSubChannelLayer

    # The pub/sub layer has no capacity or expiry (nothing is buffered); it takes hosts and prefix.
    return RedisPubSubChannelLayer(hosts=config["hosts"], prefix=config.get("prefix", "asgi"))


async def _close(layer) -> None:
    """Close connections only: flush() of the core layer would delete every queued message and group."""
    try:
        if hasattr(layer, "close_pools"):
            await layer.close_pools()
        else:
            await layer.flush()  # the pub/sub layer's flush only unsubscribes and closes
    except Exception:
        pass


def _receiver(kind: str, config: dict, receivers: int, groups: list[str], ready, results, stop) -> None:
    async def main() -> None:
        layer = make_layer(kind, config)
        channels = [await layer.new_channel() for _ in range(receivers)]
        for i, channel in enumerate(channels):
            await layer.group_add(groups[i % len(groups)], channel)
        deliveries: dict[tuple[str, int], list[float]] = collections.defaultdict(list)

        async def pump(channel: str) -> None:
            while True:
                message = await layer.receive(channel)
                deliveries[(message["scenario"], message["i"])].append(time.perf_counter() - message["t"])

        tasks = [asyncio.create_task(pump(c)) for c in channels]
        cpu_start = time.process_time()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        cpu_s = time.process_time() - cpu_start
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for group in groups:
            for channel in channels:
                try:
                    await layer.group_discard(group, channel)
                except Exception:
                    pass
        results.put(({f"{k[0]}|{k[1]}": v for k, v in deliveries.items()}, cpu_s))
        await _close(layer)

    asyncio.run(main())


def _send_burst(layer, scenario: str, groups: list[str], count: int) -> list[float]:
    """Back to back on one long-lived loop (the fastest a sender can go): fills the receiver's inbox."""

    async def go() -> list[float]:
        calls = []
        for i in range(count):
            t = time.perf_counter()
            await layer.group_send(groups[i % len(groups)], {"type": "bench.msg", "scenario": scenario, "i": i,
                                                             "t": t})
            calls.append(time.perf_counter() - t)
        await _close(layer)
        return calls

    return asyncio.run(go())


def _send_paced(layer, scenario: str, groups: list[str], count: int, rate: float) -> list[float]:
    """async_to_sync per call from a plain thread, like a Celery task; returns each call's duration."""
    from asgiref.sync import async_to_sync

    calls = []
    start = time.perf_counter()
    for i in range(count):
        due = start + i / rate if rate else time.perf_counter()
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        t = time.perf_counter()
        async_to_sync(layer.group_send)(groups[i % len(groups)], {"type": "bench.msg", "scenario": scenario, "i": i,
                                                                   "t": t})
        calls.append(time.perf_counter() - t)
    return calls


def _run_kind(kind: str, config: dict, receivers: int, count: int, rate: float, burst: int) -> dict:
    ctx = mp.get_context("spawn")
    fan_group = [f"bench-fanout-{os.getpid()}"]
    app_groups = [f"bench-app-{os.getpid()}-{i}" for i in range(receivers)]
    out: dict = {"layer": kind}
    for scenario, groups, n, pace in (("fanout", fan_group, count, rate), ("app", app_groups, count, rate),
                                      ("burst_app", app_groups, burst, 0.0),
                                      ("burst_fanout", fan_group, max(1, burst // 8), 0.0)):
        ready, stop, results = ctx.Event(), ctx.Event(), ctx.Queue()
        process = ctx.Process(target=_receiver, args=(kind, config, receivers, groups, ready, results, stop))
        process.start()
        if not ready.wait(60):
            process.kill()
            raise RuntimeError("receiver did not start")
        time.sleep(0.5)
        sender_layer = make_layer(kind, config)
        holder: dict = {}

        def target(holder=holder, layer=sender_layer, scenario=scenario, groups=groups, n=n, pace=pace) -> None:
            if pace:
                holder["calls"] = _send_paced(layer, scenario, groups, n, pace)
            else:
                holder["calls"] = _send_burst(layer, scenario, groups, n)

        sender_cpu = time.process_time()
        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
        sender_cpu = time.process_time() - sender_cpu
        time.sleep(3.0)  # stragglers
        stop.set()
        deliveries, receiver_cpu_s = results.get(timeout=60)
        process.join(30)
        members = receivers if scenario.endswith("fanout") else 1
        expected = n * members
        received = sum(len(v) for v in deliveries.values())
        every = common.Hist()
        last = common.Hist()
        for values in deliveries.values():
            for v in values:
                every.add(v)
            if len(values) == members:
                last.add(max(values))
        calls = common.Hist()
        for c in holder.get("calls", []):
            calls.add(c)
        out[scenario] = {
            "group_sends": n,
            "members_per_group": members,
            "rate_per_s": pace or "back to back",
            "expected_deliveries": expected,
            "received": received,
            "dropped": expected - received,
            "delivery_ms": every.summary(),
            "all_members_ms": last.summary(),
            "sender_call_ms": calls.summary(),
            "sender": "async_to_sync per call" if pace else "one long-lived loop",
            "sender_cpu_ms_per_send": round(sender_cpu * 1000 / max(1, n), 3),
            "receiver_cpu_ms_per_delivery": round(receiver_cpu_s * 1000 / max(1, received), 3),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.layers")
    parser.add_argument("--receivers", type=int, default=200)
    parser.add_argument("--count", type=int, default=200, help="paced group_sends per scenario")
    parser.add_argument("--rate", type=float, default=50.0, help="paced group_sends a second")
    parser.add_argument("--burst", type=int, default=400, help="back-to-back group_sends in the burst scenario")
    parser.add_argument("--json")
    args = parser.parse_args(argv)

    from devtools.redis_server import ensure_redis_url

    redis_url, embedded = ensure_redis_url()
    os.environ["REDIS_URL"] = redis_url
    try:
        config = _layer_config()
        result = {
            "machine": common.machine(),
            "receivers": args.receivers,
            "config": {k: v for k, v in config.items() if k != "hosts"},
            "layers": [_run_kind(kind, config, args.receivers, args.count, args.rate, args.burst)
                       for kind in ("core", "pubsub")],
        }
    finally:
        if embedded:
            embedded.cleanup()
    text = common.dumps(result)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            fh.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
