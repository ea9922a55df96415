"""Drive a running stack over loopback with N WebSocket clients, closed-loop or open-loop at a fixed rate.

    python -m bench.ws_load --url http://127.0.0.1:8000 --clients 50 --duration 20
    python -m bench.ws_load --clients 100 --mode open --rate 20 --duration 20 --json out.json

Each client is a person of its own (GET / for the session and CSRF cookies, POST /api/conversations/) with
one WebSocket on /ws/chat/<id>/. Per message it records, from the moment the message was due (closed loop:
when it was sent; open loop: its scheduled time, so a stalled sender or server cannot hide the wait):

    first_event_ms      the first frame of the message (message_created)
    first_button_ms     the first detail_page_button_ready  (button2_ms, button3_ms: the others)
    complete_ms         detail_page_buttons_complete
    first_delta_ms      the first answer_delta
    answer_complete_ms  answer_complete
    done_ms             both tracks the person sees ended (the closed loop sends the next message then)
    task_c_ms           task C (history) recorded its end (parallel_task_metrics, read from the REST API after
                        the run; the server's clock, the same machine's)
    finished_ms         all of it: buttons, answer and task C ("fully processed")

Every frame carries the conversation's seq: a seq that never arrives is a lost event, one that arrives twice a
duplicate, one lower than a seq already seen out of order; a message that never finished counts its missing
frames as lost too. Any of those fails the run. Server CPU per message comes from /proc of the daphne, worker
(with its pool children), io worker and redis-server processes, and of the PostgreSQL backends serving the
bench's database (bench.pgcpu), over the measured run. Back-fills (frames the app read back from its event log
instead of receiving them through the channel layer) come from the bench daphne's delivery tap (bench.floor_asgi).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import sys
import time
from dataclasses import dataclass, field

import httpx

from devtools.stack import worker_node_prefixes

from . import common
from .pgcpu import PostgresCpu
from .procs import StackProcesses, find_stack, self_cpu_ms

LATENCIES = ("first_event_ms", "first_button_ms", "button2_ms", "button3_ms", "complete_ms", "first_delta_ms",
             "answer_complete_ms", "done_ms", "task_c_ms", "finished_ms")
NO_CODE = "NO_HSCODE_DETECTED"


@dataclass
class Message:
    client: int
    index: int
    t_due: float
    measured: bool
    text: str
    t_sent: float | None = None
    message_id: int | None = None
    t_first: float | None = None
    t_buttons: list[float] = field(default_factory=list)
    t_complete: float | None = None
    t_first_delta: float | None = None
    t_answer: float | None = None
    t_done: float | None = None
    buttons_failed: bool = False
    no_code: bool = False
    error_codes: list[str] = field(default_factory=list)
    candidates: bool = False
    buttons_expected: int | None = None
    answer_deltas: int = 0
    context7_calls: int = 0
    t_task_c: float | None = None
    cache_hit: bool | None = None
    events: collections.Counter = field(default_factory=collections.Counter)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def finished(self) -> bool:
        return (self.t_complete is not None or self.buttons_failed) and self.t_answer is not None

    def missing_frames(self) -> int:
        """Frames a message that never finished is still owed (at least these; more may have been due)."""
        missing = sum(1 for name in ("message_created", "answer_complete") if not self.events[name])
        if not self.buttons_failed and not self.events["detail_page_buttons_complete"]:
            missing += 1
        if self.buttons_expected is not None:
            missing += max(0, self.buttons_expected - self.events["detail_page_button_ready"])
        return missing

    def fully_finished(self) -> bool:
        return self.t_done is not None and self.t_task_c is not None


@dataclass
class Stats:
    frames: int = 0
    bytes: int = 0
    error_frames: int = 0
    closed: int = 0
    timeouts: int = 0
    late: int = 0
    setup_errors: int = 0
    unmatched: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    error_samples: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if len(self.error_samples) < 10:
            self.error_samples.append(text[:300])


class Client:
    """One person: one conversation, one socket; frames are matched to messages by message_id."""

    def __init__(self, number: int, session: common.Session, stats: Stats):
        self.number = number
        self.session = session
        self.stats = stats
        self.ws = None
        self.awaiting_id: collections.deque[Message] = collections.deque()
        self.by_id: dict[int, Message] = {}
        self.seqs: set[int] = set()
        self.last_seq = 0
        self.reader: asyncio.Task | None = None
        self.outbox: asyncio.Queue[Message | None] = asyncio.Queue()
        self.sender: asyncio.Task | None = None

    async def open(self) -> None:
        self.ws = await self.session.connect()
        self.reader = asyncio.create_task(self._read())
        self.sender = asyncio.create_task(self._send_loop())

    async def _send_loop(self) -> None:
        # Sends of one socket in order, so the k-th message_created belongs to the k-th message sent.
        while (message := await self.outbox.get()) is not None:
            self.awaiting_id.append(message)
            message.t_sent = time.perf_counter()
            try:
                await self.ws.send(json.dumps({"type": "chat.message", "message": message.text}, ensure_ascii=False))
            except Exception as error:  # the socket died: the reader records it
                self.stats.note(f"send failed: {error!r}")

    def submit(self, message: Message) -> None:
        self.outbox.put_nowait(message)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                now = time.perf_counter()
                self.stats.frames += 1
                self.stats.bytes += len(raw)
                self._frame(json.loads(raw), now)
        except Exception as error:
            self.stats.note(f"client {self.number}: socket ended: {error!r}")
        finally:
            if not getattr(self, "closing", False):
                self.stats.closed += 1
                self.stats.note(f"client {self.number}: socket closed by the server")
                for message in list(self.by_id.values()) + list(self.awaiting_id):
                    message.done.set()

    def _frame(self, frame: dict, now: float) -> None:
        event = frame.get("event")
        if event == "error":
            self.stats.error_frames += 1
            self.stats.note(f"error frame: {frame.get('data')}")
            return
        seq = frame.get("seq")
        if isinstance(seq, int):
            if seq in self.seqs:
                self.stats.duplicates += 1
                return
            if seq < self.last_seq:
                self.stats.out_of_order += 1
            self.seqs.add(seq)
            self.last_seq = max(self.last_seq, seq)
        message_id = frame.get("message_id")
        message = self.by_id.get(message_id)
        if message is None:
            if event == "message_created" and self.awaiting_id:
                message = self.awaiting_id.popleft()
                message.message_id = message_id
                self.by_id[message_id] = message
            else:
                self.stats.unmatched += 1
                return
        message.events[event] += 1
        if message.t_first is None:
            message.t_first = now
        data = frame.get("data") or {}
        if event == "detail_page_buttons_start":
            if isinstance(data.get("buttonsCount"), int):
                message.buttons_expected = data["buttonsCount"]
        elif event == "detail_page_button_ready":
            message.t_buttons.append(now)
        elif event == "detail_page_buttons_complete":
            message.t_complete = now
            message.cache_hit = bool(data.get("summary", {}).get("cache_hit"))
            message.candidates = bool(data.get("candidates"))
            if isinstance(data.get("buttonsGenerated"), int):
                message.buttons_expected = data["buttonsGenerated"]
            calls = (data.get("performance") or {}).get("context7_calls")
            message.context7_calls = calls if isinstance(calls, int) else 0
        elif event == "detail_page_buttons_error":
            activated = data.get("fallbackActivated") or (data.get("fallback_status") or {}).get("activated")
            message.error_codes.append(f"{data.get('errorCode')}{' (fallback)' if activated else ''}")
            if not activated:
                message.buttons_failed = True
                message.no_code = data.get("errorCode") == NO_CODE
                message.buttons_expected = None
        elif event == "answer_delta":
            message.answer_deltas += 1
            if message.t_first_delta is None:
                message.t_first_delta = now
        elif event == "answer_complete":
            message.t_answer = now
        if message.t_done is None and message.finished():
            message.t_done = now
            message.done.set()

    def lost(self) -> int:
        """Seqs below the highest one seen that never arrived (a fresh conversation starts at seq 1)."""
        return self.last_seq - len(self.seqs)

    async def close(self) -> None:
        self.closing = True
        self.outbox.put_nowait(None)
        if self.ws is not None:
            try:
                await self.ws.close()
            except Exception:
                pass
        for task in (self.reader, self.sender):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (self.reader, self.sender) if t is not None), return_exceptions=True)


async def _connect_all(base_url: str, count: int, stats: Stats) -> list[Client]:
    sessions = await common.sessions_create(base_url, count)
    clients = [Client(i, s, stats) for i, s in enumerate(sessions)]
    semaphore = asyncio.Semaphore(32)

    async def open_one(client: Client) -> None:
        async with semaphore:
            await client.open()

    await asyncio.gather(*(open_one(c) for c in clients))
    return clients


async def task_c_collect(pool: list[Client], all_messages: list[Message], wall_offset: float,
                         timeout: float = 30.0) -> int:
    """Read when tasks C of the finished messages ended (REST API) until all have or `timeout` passes.
    Returns how many finished messages never recorded task C."""
    by_id = {m.message_id: m for m in all_messages if m.message_id is not None}
    deadline = time.perf_counter() + timeout
    pending = list(pool)
    # Few at a time: each plain HTTP request holds a PostgreSQL connection of its own (docs/benchmarks.md).
    semaphore = asyncio.Semaphore(8)

    async def one(client: Client) -> bool:
        async with semaphore:
            try:
                async with httpx.AsyncClient(base_url=client.session.base_url, timeout=30,
                                             headers={"Cookie": client.session.cookie_header}) as http:
                    ends = await common.task_ends(http, client.session.conversation_id)
            except httpx.HTTPError as error:
                client.stats.note(f"task C read failed: {error!r}")
                return False
        complete = True
        for message_id, tasks in ends.items():
            message = by_id.get(message_id)
            if message is None:
                continue
            if tasks["task_c"] is not None:
                message.t_task_c = tasks["task_c"] - wall_offset
            elif message.t_done is not None:
                complete = False
        return complete

    while pending:
        done = await asyncio.gather(*(one(c) for c in pending))
        pending = [c for c, ok in zip(pending, done, strict=True) if not ok]
        if not pending or time.perf_counter() > deadline:
            break
        await asyncio.sleep(1.0)
    return sum(1 for m in all_messages if m.t_done is not None and m.t_task_c is None)


async def run_load(
    base_url: str,
    *,
    name: str = "load",
    clients: int = 1,
    mode: str = "closed",
    messages: int | None = None,
    duration: float | None = None,
    rate: float | None = None,
    warmup: float = 0.0,
    cold: bool = True,
    timeout: float = 60.0,
    drain: float = 120.0,
    processes: StackProcesses | None = None,
    redis_url: str | None = None,
    floor_p50_ms: float | None = None,
    seed: int | None = None,
    pg: PostgresCpu | None = None,
    texts: tuple[str, ...] | None = None,
) -> dict:
    """One run. closed: each client sends its next message when the last one is done (`messages` each,
    or until `duration` s). open: `rate` messages a second in total, round-robin over the clients, for
    `duration` s (or `messages` in total); latencies from the scheduled time. A message not finished after
    `timeout` s is late (reported); one not finished `drain` s later still is an error, and its frames count lost."""
    if mode not in ("closed", "open"):
        raise ValueError("mode is closed or open")
    if mode == "open" and not rate:
        raise ValueError("open loop needs a rate")
    if messages is None and duration is None:
        messages = 1
    nonce = seed if seed is not None else random.randrange(1, 2**20)
    stats = Stats()
    connect_started = time.perf_counter()
    pool = await _connect_all(base_url, clients, stats)
    connect_s = time.perf_counter() - connect_started
    all_messages: list[Message] = []
    counter = 0

    def new_message(client: int, t_due: float, t0: float) -> Message:
        nonlocal counter
        counter += 1
        text = common.message_text(counter, cold, nonce, texts)
        message = Message(client, counter, t_due, t_due >= t0 + warmup, text)
        all_messages.append(message)
        return message

    delivery_before = await common.delivery_stats(base_url)
    cpu_before = processes.cpu_ms() if processes else {}
    pg_before = pg.snapshot() if pg else {}
    client_cpu_before = self_cpu_ms()
    redis_before = common.redis_commandstats(redis_url)
    t0 = time.perf_counter()
    wall_offset = time.time() - t0
    stop_at = t0 + duration if duration else None

    async def closed_client(client: Client) -> None:
        sent = 0
        # Start the clients a little apart, as people would, instead of in one burst.
        await asyncio.sleep(random.random() * min(1.0, 0.01 * clients))
        while True:
            now = time.perf_counter()
            if (messages is not None and sent >= messages) or (stop_at is not None and now >= stop_at):
                return
            message = new_message(client.number, now, t0)
            client.submit(message)
            sent += 1
            try:
                await asyncio.wait_for(message.done.wait(), timeout)
            except TimeoutError:
                # Late (a saturated closed loop waits about clients / capacity): reported, and waited for.
                stats.late += 1
                try:
                    await asyncio.wait_for(message.done.wait(), drain)
                except TimeoutError:
                    stats.timeouts += 1
                    stats.note(f"client {client.number}: message {message.message_id} not finished in "
                               f"{timeout + drain:g} s (events {dict(message.events)})")
                    return
            if client.reader is not None and client.reader.done():
                return

    async def open_scheduler() -> None:
        interval = 1.0 / rate
        total = messages if messages is not None else int(duration * rate)
        for i in range(total):
            due = t0 + i * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            client = pool[i % len(pool)]
            client.submit(new_message(client.number, due, t0))

    if mode == "closed":
        await asyncio.gather(*(closed_client(c) for c in pool))
    else:
        await open_scheduler()
        pending = [m for m in all_messages if not m.done.is_set()]
        if pending:
            try:
                await asyncio.wait_for(asyncio.gather(*(m.done.wait() for m in pending)), timeout)
            except TimeoutError:
                late = [m for m in pending if not m.done.is_set()]
                stats.late += len(late)
                try:
                    await asyncio.wait_for(asyncio.gather(*(m.done.wait() for m in late)), drain)
                except TimeoutError:
                    unfinished = [m for m in late if not m.done.is_set()]
                    stats.timeouts += len(unfinished)
                    stats.note(f"{len(unfinished)} messages not finished {timeout + drain:g} s after the last "
                               "was due")
    t_end = time.perf_counter()
    # Let trailing frames (duplicates, late seqs) arrive before counting.
    await asyncio.sleep(0.5)
    task_c_missing = await task_c_collect(pool, all_messages, wall_offset)
    cpu_after = processes.cpu_ms() if processes else {}
    pg_after = pg.snapshot() if pg else {}
    client_cpu = self_cpu_ms() - client_cpu_before
    redis_after = common.redis_commandstats(redis_url)
    delivery_after = await common.delivery_stats(base_url)
    for client in pool:
        await client.close()
    cpu_by_role = {role: cpu_after.get(role, 0.0) - cpu_before.get(role, 0.0) for role in cpu_after}
    if pg is not None and pg.available:
        cpu_by_role["postgres"] = PostgresCpu.delta_ms(pg_before, pg_after)
    delivery = None
    if delivery_before is not None and delivery_after is not None:
        delivery = {k: delivery_after[k] - delivery_before.get(k, 0) for k in delivery_after
                    if isinstance(delivery_after[k], int) and not isinstance(delivery_after[k], bool)}

    return _report(
        name=name, clients=clients, mode=mode, rate=rate, duration=duration, warmup=warmup, cold=cold, t0=t0,
        t_end=t_end, stop_at=stop_at, all_messages=all_messages, pool=pool, stats=stats,
        cpu_by_role=cpu_by_role, client_cpu=client_cpu, redis=(redis_before, redis_after),
        floor_p50_ms=floor_p50_ms, connect_s=connect_s, task_c_missing=task_c_missing, delivery=delivery,
    )


def _report(*, name, clients, mode, rate, duration, warmup, cold, t0, t_end, stop_at, all_messages, pool, stats,
            cpu_by_role, client_cpu, redis, floor_p50_ms, connect_s, task_c_missing, delivery) -> dict:
    hists = {key: common.Hist() for key in LATENCIES}
    measured = [m for m in all_messages if m.measured]
    for m in measured:
        def add(key: str, t: float | None, m=m) -> None:
            if t is not None:
                hists[key].add(max(0.0, t - m.t_due))

        add("first_event_ms", m.t_first)
        buttons = sorted(m.t_buttons)
        for key, index in (("first_button_ms", 0), ("button2_ms", 1), ("button3_ms", 2)):
            add(key, buttons[index] if len(buttons) > index else None)
        add("complete_ms", m.t_complete)
        add("first_delta_ms", m.t_first_delta)
        add("answer_complete_ms", m.t_answer)
        add("done_ms", m.t_done)
        add("task_c_ms", m.t_task_c)
        if m.fully_finished():
            add("finished_ms", max(m.t_done, m.t_task_c))

    def finished_at(m: Message) -> float:
        return max(m.t_done, m.t_task_c)

    finished = [m for m in all_messages if m.fully_finished()]
    finished_measured = [m for m in measured if m.fully_finished()]
    start = min((m.t_due for m in measured), default=t0)
    end = max((finished_at(m) for m in finished_measured), default=t_end)
    overall = len(finished_measured) / max(1e-9, end - start)
    throughput, basis = overall, "fully finished / (last finished - first due)"
    if stop_at is not None and mode == "closed":
        # Steady state when at least one full round finished inside the sending window.
        window_start = t0 + warmup
        in_window = [m for m in finished if window_start <= finished_at(m) <= stop_at]
        if len(in_window) >= clients:
            throughput = len(in_window) / max(1e-9, stop_at - window_start)
            basis = "fully finished (buttons, answer, task C) in the sending window"
    # Lost: seqs never delivered, plus frames missing from messages that never finished.
    seq_lost = sum(c.lost() for c in pool)
    missing = sum(m.missing_frames() for m in all_messages if m.t_done is None)
    button_errors = sum(1 for m in all_messages if m.buttons_failed and not m.no_code)
    errors = stats.error_frames + stats.closed + stats.timeouts + stats.setup_errors + task_c_missing
    n_done = max(1, len(finished))
    redis_calls = common.counter_delta(*redis)
    frames_by_event: collections.Counter = collections.Counter()
    for m in finished:
        frames_by_event.update(m.events)
    server_cpu = sum(cpu_by_role.values())
    result = {
        "name": name,
        "clients": clients,
        "mode": mode,
        "cache": "cold" if cold else "warm",
        "offered_msg_s": rate,
        "duration_s": duration,
        "warmup_s": warmup,
        "wall_s": round(t_end - t0, 3),
        "connect_s": round(connect_s, 3),
        "messages_sent": len(all_messages),
        "messages_finished": len(finished),
        "messages_measured": len(measured),
        "throughput_msg_s": round(throughput, 2),
        "throughput_basis": basis,
        "lost_events": seq_lost + missing,
        "duplicates": stats.duplicates,
        "out_of_order": stats.out_of_order,
        "lost_detail": {"seq_gaps": seq_lost, "frames_missing_from_unfinished": missing,
                        "unmatched": stats.unmatched},
        "backfilled_frames": (delivery or {}).get("backfilled"),
        "delivery": delivery,
        "errors": errors,
        "error_detail": {"error_frames": stats.error_frames, "sockets_closed": stats.closed,
                         "timeouts": stats.timeouts, "late": stats.late, "setup": stats.setup_errors,
                         "task_c_missing": task_c_missing,
                         "samples": stats.error_samples},
        "outcomes": {
            "one_code": sum(1 for m in finished if m.t_complete is not None and not m.candidates),
            "candidates": sum(1 for m in finished if m.candidates),
            "no_code": sum(1 for m in finished if m.no_code),
            "button_errors": button_errors,
            "buttons_error_codes": dict(collections.Counter(c for m in finished for c in m.error_codes)),
        },
        "button_errors": button_errors,
        "cache_hits": sum(1 for m in all_messages if m.cache_hit),
        "answer_deltas_per_msg": round(sum(m.answer_deltas for m in finished) / n_done, 2),
        "context7_calls_per_msg": round(sum(m.context7_calls for m in finished) / n_done, 2),
        "frames_per_msg": round(sum(frames_by_event.values()) / n_done, 2),
        "frames_per_msg_by_event": {k: round(v / n_done, 2) for k, v in sorted(frames_by_event.items())},
        "bytes_per_msg": round(stats.bytes / n_done),
        "cpu_ms_per_msg": round(server_cpu / n_done, 2) if cpu_by_role else None,
        "cpu_ms_per_msg_by_process": {k: round(v / n_done, 2) for k, v in cpu_by_role.items()},
        "cpu_util_by_process": {k: round(v / 1000 / max(1e-9, t_end - t0), 3) for k, v in cpu_by_role.items()},
        "client_cpu_ms_per_msg": round(client_cpu / n_done, 2),
        "redis_calls_per_msg": {k: round(v / n_done, 2) for k, v in
                                sorted(redis_calls.items(), key=lambda kv: -kv[1])[:12]},
    }
    for key, hist in hists.items():
        summary = hist.summary()
        summary["ratio_p50"] = (round(summary["p50"] / floor_p50_ms, 2)
                                if floor_p50_ms and summary["p50"] is not None else None)
        result[key] = summary
    result["failed"] = failures(result)
    return result


def failures(result: dict) -> list[str]:
    """What makes a run fail: lost, duplicated or out-of-order frames, errors. Back-fills are reported only."""
    out = []
    for key in ("lost_events", "duplicates", "out_of_order", "errors"):
        if result.get(key):
            out.append(f"{key} {result[key]}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.ws_load", description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("BENCH_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL"),
                        help="the stack's Redis, for its CPU and command counts (optional)")
    parser.add_argument("--worker-name", default=None,
                        help="part of the worker's command line that picks the stack's worker "
                             "(make run: tradechat-<port>@ and tradechat-io-<port>@); "
                             "default: every `celery -A config worker` seen")
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--mode", choices=("closed", "open"), default="closed")
    parser.add_argument("--messages", type=int, help="closed: per client; open: in total")
    parser.add_argument("--duration", type=float, help="seconds of sending")
    parser.add_argument("--rate", type=float, help="open loop: messages per second in total")
    parser.add_argument("--warmup", type=float, default=0.0, help="seconds whose messages are not measured")
    parser.add_argument("--warm-cache", action="store_true",
                        help="repeat the same questions (detail-page cache hits) instead of unique ones")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--floor", action="store_true", help="measure the floor first (needs /ws/bench/floor/)")
    parser.add_argument("--json", help="write the result here")
    args = parser.parse_args(argv)

    common.raise_fd_limit()
    worker_hint = args.worker_name or (worker_node_prefixes(common.http_port(args.url))
                                       if args.worker_name is None and _has_make_run_worker(args.url) else None)
    processes = find_stack(common.http_port(args.url), common.redis_port(args.redis_url), worker_hint)

    async def go() -> dict:
        floor = None
        if args.floor:
            from .floor import measure_floor

            floor = await measure_floor(args.url, redis_url=args.redis_url)
        result = await run_load(
            args.url, name=f"{args.clients}x{args.mode}", clients=args.clients, mode=args.mode,
            messages=args.messages, duration=args.duration, rate=args.rate, warmup=args.warmup,
            cold=not args.warm_cache, timeout=args.timeout, processes=processes, redis_url=args.redis_url,
            floor_p50_ms=(floor or {}).get("floor_celery_ms", {}).get("p50"),
        )
        return {"floor": floor, "processes": processes.describe(), "profile": result}

    out = asyncio.run(go())
    text = common.dumps(out)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            fh.write(text)
    print(text)
    return 1 if out["profile"]["failed"] else 0


def _has_make_run_worker(url: str) -> bool:
    from .procs import worker_pids

    return bool(worker_pids(worker_node_prefixes(common.http_port(url))))


if __name__ == "__main__":
    sys.exit(main())
