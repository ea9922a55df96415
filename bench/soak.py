"""The soak: many people at a human pace for a long time, to show a leak or a slow loss, not a peak.

    make bench BENCH_PROFILE=soak                 # or: python -m bench.run --soak / python -m bench.soak
    python -m bench.soak --clients 1000 --minutes 10 --pace 60,120 --sse-share 0.3 --drop-share 0.05

Defaults: 1,000 people, 30 % of them reading over SSE (GET /api/conversations/<id>/events) and the rest over the
chat WebSocket. Each person sends a message every `pace` seconds (uniform between the two bounds, so about one
message every 90 s with ±30 s of jitter; the first at a random moment of the first interval). The app has no HTTP
endpoint for sending, so an SSE person sends each message over a short-lived WebSocket of their conversation
(open, send, close once message_created arrives) and reads everything over the stream.

Every `drop_every` seconds a `drop_share` of the connections is cut (the TCP connection aborted, no close
handshake: a lost network) and comes back 1–5 s later asking for what it missed: a WebSocket with ?after=<last
seq>, an SSE stream with Last-Event-ID. Messages keep flowing while they are away.

Measured after `warmup` seconds, for `minutes` minutes; RSS of daphne, the prefork worker (with its pool
children) and the io worker sampled every minute from the start. The profile FAILS when any frame is lost (a seq
of the conversation never delivered: checked at the end against each conversation's last_seq from the REST API),
duplicated or out of order, when a message never finishes (buttons, answer and task C), or when a role's RSS at the
end exceeds its RSS at the end of the warm-up by more than `rss_growth_limit` percent.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import json
import os
import random
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from . import common
from .pgcpu import PostgresCpu
from .procs import StackProcesses, self_cpu_ms

RESULTS = Path(__file__).resolve().parent / "results"
NO_CODE = "NO_HSCODE_DETECTED"


@dataclass
class Msg:
    t_due: float
    text: str
    measured: bool
    message_id: int | None = None
    t_first_button: float | None = None
    t_buttons_end: float | None = None
    t_answer: float | None = None
    t_task_c: float | None = None
    unsent: bool = False

    @property
    def t_done(self) -> float | None:
        if self.t_buttons_end is None or self.t_answer is None:
            return None
        return max(self.t_buttons_end, self.t_answer)


@dataclass
class Tally:
    duplicates: int = 0
    out_of_order: int = 0
    error_frames: int = 0
    unforced_disconnects: int = 0
    forced_drops: int = 0
    resumes: int = 0
    resume_failures: int = 0
    send_failures: int = 0
    samples: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if len(self.samples) < 20:
            self.samples.append(text[:300])


class Person(ABC):
    """One person, one conversation; frames tracked by seq whichever connection brought them."""

    kind = "ws"

    def __init__(self, number: int, session: common.Session, tally: Tally):
        self.number = number
        self.session = session
        self.tally = tally
        self.seqs: set[int] = set()
        self.last_seq = 0
        self.messages: dict[int, Msg] = {}
        self.awaiting: collections.deque[Msg] = collections.deque()
        self.sent: list[Msg] = []
        self.connected = asyncio.Event()
        self.dropping = False
        self.reader: asyncio.Task | None = None
        self.closing = False

    def contiguous(self) -> int:
        n = 0
        while n + 1 in self.seqs:
            n += 1
        return n

    def frame(self, frame: dict, now: float) -> None:
        event = frame.get("event")
        if event == "error":
            self.tally.error_frames += 1
            self.tally.note(f"person {self.number}: error frame {frame.get('data')}")
            return
        seq = frame.get("seq")
        if not isinstance(seq, int):
            return  # snapshot, replay_more: no seq
        if seq in self.seqs:
            self.tally.duplicates += 1
            self.tally.note(f"person {self.number} ({self.kind}): seq {seq} twice")
            return
        if seq < self.last_seq:
            self.tally.out_of_order += 1
            self.tally.note(f"person {self.number} ({self.kind}): seq {seq} after {self.last_seq}")
        self.seqs.add(seq)
        self.last_seq = max(self.last_seq, seq)
        message_id = frame.get("message_id")
        message = self.messages.get(message_id)
        if message is None:
            if event == "message_created" and self.awaiting:
                message = self.awaiting.popleft()
                message.message_id = message_id
                self.messages[message_id] = message
            else:
                return
        data = frame.get("data") or {}
        if event == "detail_page_button_ready" and message.t_first_button is None:
            message.t_first_button = now
        elif event == "detail_page_buttons_complete":
            message.t_buttons_end = now
        elif event == "detail_page_buttons_error":
            activated = data.get("fallbackActivated") or (data.get("fallback_status") or {}).get("activated")
            if not activated:
                message.t_buttons_end = now
        elif event == "answer_complete":
            message.t_answer = now

    @abstractmethod
    async def connect(self, resume: bool) -> None:
        """Open this person's stream (WebSocket or SSE), resuming after the last seq seen when `resume`."""

    @abstractmethod
    async def _cut(self) -> None:
        """Drop the connection without a close handshake."""

    async def reconnect(self, attempts: int = 10) -> bool:
        """Come back asking for what was missed; a failed attempt is retried 1–5 s later."""
        for attempt in range(attempts):
            await asyncio.sleep(1 + random.random() * 4)
            try:
                await asyncio.wait_for(self.connect(resume=True), 60)
                self.tally.resumes += 1
                return True
            except Exception as error:
                self.tally.note(f"person {self.number} ({self.kind}): resume attempt {attempt + 1} failed: {error!r}")
        self.tally.resume_failures += 1
        return False

    async def drop(self) -> None:
        """The network goes away (no close handshake), and comes back 1–5 s later."""
        self.dropping = True
        self.connected.clear()
        await self._cut()
        self.tally.forced_drops += 1
        self.dropping = False
        await self.reconnect()

    def ended_by_itself(self) -> None:
        if self.dropping or self.closing:
            return
        self.tally.unforced_disconnects += 1
        self.connected.clear()
        asyncio.get_running_loop().create_task(self.reconnect())

    async def _connected_within(self, seconds: float, message: Msg) -> bool:
        """Wait for a (re)connection before sending; a message that cannot wait longer is counted as unsent."""
        try:
            await asyncio.wait_for(self.connected.wait(), seconds)
        except TimeoutError:
            message.unsent = True
            self.tally.send_failures += 1
            self.tally.note(f"person {self.number}: not connected for {seconds:g} s, message not sent")
            return False
        return True

    @abstractmethod
    async def send(self, message: Msg) -> bool:
        """Send one message; False when it could not be sent."""

    async def close(self) -> None:
        self.closing = True
        if self.reader is not None:
            self.reader.cancel()
            await asyncio.gather(self.reader, return_exceptions=True)


class WsPerson(Person):
    kind = "ws"
    ws = None

    async def connect(self, resume: bool) -> None:
        path = f"/ws/chat/{self.session.conversation_id}/"
        if resume:
            path += f"?after={self.contiguous()}"
        self.ws = await self.session.connect(path)
        self.reader = asyncio.create_task(self._read(self.ws))
        self.connected.set()

    async def _read(self, ws) -> None:
        try:
            async for raw in ws:
                self.frame(json.loads(raw), time.perf_counter())
        except Exception as error:
            if not self.dropping and not self.closing:
                self.tally.note(f"person {self.number}: socket ended: {error!r}")
        if ws is self.ws:
            self.ended_by_itself()

    async def _cut(self) -> None:
        ws = self.ws
        if ws is not None and ws.transport is not None:
            ws.transport.abort()  # the network went away: no close handshake
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)

    async def send(self, message: Msg) -> bool:
        if not await self._connected_within(90, message):
            return False
        self.awaiting.append(message)
        try:
            await self.ws.send(json.dumps({"type": "chat.message", "message": message.text}, ensure_ascii=False))
            return True
        except Exception as error:
            self.awaiting.remove(message)
            self.tally.send_failures += 1
            self.tally.note(f"person {self.number}: send failed: {error!r}")
            return False

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            try:
                await self.ws.close()
            except Exception:
                pass
        await super().close()


class SsePerson(Person):
    """Reads over SSE; sends each message over a short-lived WebSocket (the app has no HTTP send)."""

    kind = "sse"

    def __init__(self, number: int, session: common.Session, tally: Tally, http: httpx.AsyncClient):
        super().__init__(number, session, tally)
        self.http = http
        self.response: httpx.Response | None = None
        self.ready = asyncio.Event()

    async def connect(self, resume: bool) -> None:
        headers = {"Cookie": self.session.cookie_header, "Accept": "text/event-stream"}
        if resume:
            headers["Last-Event-ID"] = str(self.contiguous())
        self.ready.clear()
        self.opened = False
        self.reader = asyncio.create_task(self._read(headers))
        await asyncio.wait_for(self.ready.wait(), 60)
        if not self.opened:
            raise RuntimeError("the SSE stream did not open")
        self.connected.set()

    async def _read(self, headers: dict[str, str]) -> None:
        url = f"{self.session.base_url}/api/conversations/{self.session.conversation_id}/events"
        try:
            async with self.http.stream("GET", url, headers=headers, timeout=httpx.Timeout(30, read=None)) as resp:
                self.response = resp
                if resp.status_code != 200:
                    raise RuntimeError(f"SSE status {resp.status_code}")
                self.opened = True
                self.ready.set()
                async for line in resp.aiter_lines():
                    if line.startswith("data: "):
                        self.frame(json.loads(line[6:]), time.perf_counter())
        except asyncio.CancelledError:
            self.ready.set()
            raise
        except Exception as error:
            if not self.dropping and not self.closing:
                self.tally.note(f"person {self.number}: stream ended: {error!r}")
        self.ready.set()
        if asyncio.current_task() is self.reader:
            self.ended_by_itself()

    async def _cut(self) -> None:
        if self.reader is not None:
            self.reader.cancel()  # closes the stream's connection mid-body
            await asyncio.gather(self.reader, return_exceptions=True)

    async def send(self, message: Msg) -> bool:
        if not await self._connected_within(90, message):
            return False
        self.awaiting.append(message)
        try:
            async with self.session.connect() as ws:
                await ws.send(json.dumps({"type": "chat.message", "message": message.text}, ensure_ascii=False))
                async with asyncio.timeout(60):
                    while True:
                        frame = json.loads(await ws.recv())
                        if frame.get("event") in ("message_created", "error"):
                            break
            return True
        except Exception as error:
            self.tally.send_failures += 1
            self.tally.note(f"person {self.number}: SSE-side send failed: {error!r}")
            return False


async def _rss_sampler(processes: StackProcesses | None, t0: float, every: float, samples: list[dict],
                       stop: asyncio.Event) -> None:
    if processes is None:
        return
    while True:
        rss = processes.rss_mb()
        samples.append({"t_s": round(time.perf_counter() - t0, 1), **{k: round(v, 1) for k, v in rss.items()}})
        try:
            await asyncio.wait_for(stop.wait(), every)
            return
        except TimeoutError:
            continue


async def soak(base_url: str, *, clients: int, sse_share: float, pace: tuple[float, float], warmup: float,
               minutes: float, drop_share: float, drop_every: float, rss_every: float, rss_growth_limit: float,
               processes: StackProcesses | None, pg: PostgresCpu | None, redis_url: str | None) -> dict:
    tally = Tally()
    common.raise_fd_limit()
    log(f"soak: {clients} people ({sse_share:.0%} SSE), a message every {pace[0]:g}–{pace[1]:g} s each, "
        f"{warmup:g} s warm-up + {minutes:g} min measured")
    setup_started = time.perf_counter()
    sessions = await common.sessions_create(base_url, clients, concurrency=8)
    limits = httpx.Limits(max_connections=clients + 50, max_keepalive_connections=clients + 50)
    http = httpx.AsyncClient(limits=limits, timeout=30)
    n_sse = round(clients * sse_share)
    people: list[Person] = [SsePerson(i, s, tally, http) if i < n_sse else WsPerson(i, s, tally)
                            for i, s in enumerate(sessions)]
    random.shuffle(people)
    semaphore = asyncio.Semaphore(32)

    async def open_one(person: Person) -> None:
        async with semaphore:
            await person.connect(resume=False)

    await asyncio.gather(*(open_one(p) for p in people))
    setup_s = time.perf_counter() - setup_started
    log(f"  {clients} connected in {setup_s:.0f} s")

    t0 = time.perf_counter()
    wall_offset = time.time() - t0
    t_measure = t0 + warmup
    t_stop = t_measure + minutes * 60
    stop_rss = asyncio.Event()
    rss_samples: list[dict] = []
    sampler = asyncio.create_task(_rss_sampler(processes, t0, rss_every, rss_samples, stop_rss))
    counters: dict = {}
    nonce = random.randrange(1, 2**20)
    counter = 0

    async def person_loop(person: Person) -> None:
        nonlocal counter
        next_at = t0 + random.uniform(0, pace[1])
        # A message due after the window is never sent: sleep to it only while it falls inside the window.
        while next_at < t_stop:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            counter += 1
            now = time.perf_counter()
            message = Msg(now, common.message_text(counter, True, nonce), now >= t_measure)
            person.sent.append(message)
            await person.send(message)
            next_at = now + random.uniform(*pace)

    async def dropper() -> None:
        drops = 0
        while True:
            await asyncio.sleep(drop_every)
            if time.perf_counter() >= t_stop:
                return
            chosen = random.sample([p for p in people if p.connected.is_set()],
                                   k=max(1, round(drop_share * len(people))))
            drops += len(chosen)
            log(f"  t={time.perf_counter() - t0:.0f} s: dropping {len(chosen)} connections "
                f"({sum(1 for p in chosen if p.kind == 'sse')} SSE); sent so far {counter}")
            for person in chosen:
                asyncio.get_running_loop().create_task(_drop(person))

    async def _drop(person: Person) -> None:
        try:
            await person.drop()
        except Exception as error:
            tally.resume_failures += 1
            tally.note(f"person {person.number}: resume failed: {error!r}")

    async def mark(label: str) -> None:
        counters[label] = {"cpu": processes.cpu_ms() if processes else {}, "pg": pg.snapshot() if pg else {},
                           "client_cpu": self_cpu_ms(), "t": time.perf_counter(),
                           "delivery": await common.delivery_stats(base_url)}

    async def measure_marks() -> None:
        await asyncio.sleep(max(0.0, t_measure - time.perf_counter()))
        await mark("start")
        log("  warm-up over: measuring")
        await asyncio.sleep(max(0.0, t_stop - time.perf_counter()))
        await mark("stop")

    drops_task = asyncio.create_task(dropper())
    marks_task = asyncio.create_task(measure_marks())
    await asyncio.gather(*(person_loop(p) for p in people))
    await marks_task
    drops_task.cancel()
    await asyncio.gather(drops_task, return_exceptions=True)
    log("  sending stopped: waiting for the last messages")
    # Wait for every sent message to finish (reconnects included), up to 120 s.
    drain_deadline = time.perf_counter() + 120
    while time.perf_counter() < drain_deadline:
        unfinished = [m for p in people for m in p.sent if m.t_done is None and not m.unsent]
        reconnecting = [p for p in people if not p.connected.is_set()]
        if not unfinished and not reconnecting:
            break
        await asyncio.sleep(1)
    await asyncio.sleep(1.0)
    stop_rss.set()
    await sampler
    rss_samples.append({"t_s": round(time.perf_counter() - t0, 1), "final": True,
                        **({k: round(v, 1) for k, v in processes.rss_mb().items()} if processes else {})})
    await mark("end")

    # The truth: each conversation's last seq, and task C of each message, from the REST API.
    heads: dict[int, int] = {}
    by_id: dict[int, Msg] = {}
    api_errors = 0
    sem = asyncio.Semaphore(8)

    async def verify(person: Person) -> None:
        nonlocal api_errors
        async with sem:
            headers = {"Cookie": person.session.cookie_header}
            try:
                response = await http.get(f"{base_url}/api/conversations/{person.session.conversation_id}/",
                                          headers=headers)
                response.raise_for_status()
                heads[person.number] = int(response.json()["last_seq"])
                async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as api:
                    ends = await common.task_ends(api, person.session.conversation_id)
            except (httpx.HTTPError, KeyError, ValueError) as error:
                api_errors += 1
                tally.note(f"person {person.number}: verification failed: {error!r}")
                return
            for message in person.sent:
                if message.message_id is not None:
                    by_id[message.message_id] = message
            for message_id, tasks in ends.items():
                message = by_id.get(message_id)
                if message is not None and tasks["task_c"] is not None:
                    message.t_task_c = tasks["task_c"] - wall_offset

    await asyncio.gather(*(verify(p) for p in people))

    def missing() -> int:
        return sum(len(set(range(1, heads[p.number] + 1)) - p.seqs) for p in people if p.number in heads)

    # A frame committed just before the heads were read may still be on its way: give it a few seconds.
    for _ in range(5):
        if not missing():
            break
        await asyncio.sleep(3)
    for person in people:
        await person.close()
    await http.aclose()

    lost = missing()
    beyond_head = sum(1 for p in people if p.number in heads for s in p.seqs if s > heads[p.number])
    all_sent = [m for p in people for m in p.sent]
    never_created = sum(1 for m in all_sent if m.message_id is None and not m.unsent)
    unfinished = sum(1 for m in all_sent if m.message_id is not None and m.t_done is None)
    task_c_missing = sum(1 for m in all_sent if m.t_done is not None and m.t_task_c is None)
    measured = [m for m in all_sent if m.measured]
    hists = {k: common.Hist() for k in ("first_button_ms", "done_ms", "finished_ms")}
    for m in measured:
        if m.t_first_button is not None:
            hists["first_button_ms"].add(m.t_first_button - m.t_due)
        if m.t_done is not None:
            hists["done_ms"].add(m.t_done - m.t_due)
            if m.t_task_c is not None:
                hists["finished_ms"].add(max(m.t_done, m.t_task_c) - m.t_due)
    start, stop, end = counters["start"], counters["stop"], counters["end"]
    window_s = stop["t"] - start["t"]
    in_window = [m for m in all_sent if start["t"] <= m.t_due < stop["t"]]
    # CPU from the start of the measured window to the end of the drain, per message sent in the window.
    cpu = {role: end["cpu"].get(role, 0.0) - start["cpu"].get(role, 0.0) for role in end["cpu"]}
    if pg is not None and pg.available:
        cpu["postgres"] = PostgresCpu.delta_ms(start["pg"], end["pg"])
    n_window = max(1, len(in_window))
    delivery = None
    if start["delivery"] and end["delivery"]:
        delivery = {k: end["delivery"][k] - start["delivery"].get(k, 0) for k in end["delivery"]
                    if isinstance(end["delivery"][k], int) and not isinstance(end["delivery"][k], bool)}

    warm = [s for s in rss_samples if s["t_s"] >= warmup - 1 and not s.get("final")]
    baseline = warm[0] if warm else (rss_samples[0] if rss_samples else {})
    final = rss_samples[-1] if rss_samples else {}
    growth = {}
    for role in ("daphne", "worker", "worker_io"):
        if role in baseline and role in final and baseline[role]:
            growth[role] = {"after_warmup_mb": baseline[role], "end_mb": final[role],
                            "max_mb": max(s.get(role, 0) for s in rss_samples),
                            "growth_pct": round(100 * (final[role] / baseline[role] - 1), 1)}
    connections_total = len(people) + tally.resumes
    result = {
        "clients": clients, "sse_clients": n_sse, "ws_clients": clients - n_sse,
        "pace_s": list(pace), "offered_msg_s": round(clients / (sum(pace) / 2), 2),
        "warmup_s": warmup, "measured_minutes": minutes, "setup_s": round(setup_s, 1),
        "drop_share": drop_share, "drop_every_s": drop_every,
        "messages_sent": len(all_sent), "messages_in_window": len(in_window),
        "carried_msg_s": round(len(in_window) / max(1e-9, window_s), 2),
        "lost_frames": lost, "frames_beyond_head": beyond_head,
        "duplicates": tally.duplicates, "out_of_order": tally.out_of_order,
        "messages_never_created": never_created, "messages_unfinished": unfinished,
        "task_c_missing": task_c_missing, "api_errors": api_errors, "error_frames": tally.error_frames,
        "forced_drops": tally.forced_drops, "resumes": tally.resumes, "resume_failures": tally.resume_failures,
        "unforced_disconnects": tally.unforced_disconnects, "send_failures": tally.send_failures,
        "messages_unsent": sum(1 for m in all_sent if m.unsent),
        "connection_stability_pct": round(100 * (1 - tally.unforced_disconnects / max(1, connections_total)), 3),
        "delivery": delivery,
        "cpu_ms_per_msg": round(sum(cpu.values()) / n_window, 2),
        "cpu_ms_per_msg_by_process": {k: round(v / n_window, 2) for k, v in cpu.items()},
        "cpu_util_by_process": {k: round(v / 1000 / max(1e-9, end["t"] - start["t"]), 3) for k, v in cpu.items()},
        "client_cpu_util": round((end["client_cpu"] - start["client_cpu"]) / 1000 / max(1e-9, end["t"] - start["t"]),
                                 3),
        "rss_samples_mb": rss_samples, "rss_growth": growth, "rss_growth_limit_pct": rss_growth_limit,
        "samples": tally.samples,
    }
    for key, hist in hists.items():
        result[key] = hist.summary()
    failed = []
    for key in ("lost_frames", "duplicates", "out_of_order", "messages_never_created", "messages_unfinished",
                "task_c_missing", "resume_failures", "api_errors", "frames_beyond_head", "send_failures"):
        if result[key]:
            failed.append(f"{key} {result[key]}")
    for role, g in growth.items():
        if g["growth_pct"] > rss_growth_limit:
            failed.append(f"{role} RSS grew {g['growth_pct']} % after warm-up (limit {rss_growth_limit} %)")
    result["failed"] = failed
    return result


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def markdown(result: dict) -> str:
    r = result["soak"]
    m = result["machine"]
    lines = [f"# Soak {result['timestamp']}", "",
             f"Machine: {m.get('cpus')} CPUs, load average at start {m.get('loadavg_at_start')}, at end "
             f"{m.get('loadavg_at_end')}; commit {m.get('git')}{' + uncommitted changes' if m.get('dirty') else ''}; "
             f"database {result.get('database_choice')}.", "",
             f"{r['clients']:,} people ({r['ws_clients']} WebSocket, {r['sse_clients']} SSE), one message each "
             f"every {r['pace_s'][0]:g}–{r['pace_s'][1]:g} s (offered {r['offered_msg_s']} msg/s), "
             f"{r['warmup_s']:g} s warm-up + {r['measured_minutes']:g} min measured; {r['drop_share']:.0%} of the "
             f"connections cut every {r['drop_every_s']:g} s and resumed.", "",
             "| figure | value |", "|---|---|"]
    for key in ("messages_sent", "messages_in_window", "carried_msg_s", "lost_frames", "duplicates", "out_of_order",
                "messages_unfinished", "task_c_missing", "forced_drops", "resumes", "resume_failures",
                "unforced_disconnects", "connection_stability_pct", "cpu_ms_per_msg"):
        lines.append(f"| {key} | {r[key]} |")
    for key in ("first_button_ms", "done_ms", "finished_ms"):
        h = r[key]
        lines.append(f"| {key} p50 / p99 / max | {h['p50']} / {h['p99']} / {h['max']} |")
    lines.append(f"| delivery (tap) | {r['delivery']} |")
    lines.append(f"| CPU ms/msg by process | {r['cpu_ms_per_msg_by_process']} |")
    lines += ["", "RSS (MB) every minute:", "", "| t s | daphne | worker | worker_io |", "|---|---|---|---|"]
    for s in r["rss_samples_mb"]:
        lines.append(f"| {s['t_s']}{' (end)' if s.get('final') else ''} | {s.get('daphne')} | {s.get('worker')} | "
                     f"{s.get('worker_io')} |")
    growth = "; ".join(f"{k} {v['after_warmup_mb']} → {v['end_mb']} MB ({v['growth_pct']:+} %)"
                       for k, v in r["rss_growth"].items())
    lines += ["", f"RSS growth after warm-up: {growth}",
              "", ("**FAILED:** " + "; ".join(r["failed"])) if r["failed"] else "**Passed.**"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.soak", description="the 1,000-client soak")
    parser.add_argument("--url", default=None, help="a running stack (RSS/CPU only when its processes are visible)")
    parser.add_argument("--clients", type=int, default=int(os.environ.get("BENCH_SOAK_CLIENTS", 1000)))
    parser.add_argument("--sse-share", type=float, default=0.3)
    parser.add_argument("--pace", default=os.environ.get("BENCH_SOAK_PACE", "60,120"),
                        help="seconds between one person's messages: min,max (uniform)")
    parser.add_argument("--warmup", type=float, default=120.0)
    parser.add_argument("--minutes", type=float, default=float(os.environ.get("BENCH_SOAK_MINUTES", 10)))
    parser.add_argument("--drop-share", type=float, default=0.05)
    parser.add_argument("--drop-every", type=float, default=60.0)
    parser.add_argument("--rss-every", type=float, default=60.0)
    parser.add_argument("--rss-growth-limit", type=float, default=10.0)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    pace = tuple(float(x) for x in args.pace.split(","))
    common.raise_fd_limit()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    result: dict = {"schema": 2, "timestamp": stamp, "profile": "soak", "machine": common.machine()}
    options = dict(clients=args.clients, sse_share=args.sse_share, pace=pace, warmup=args.warmup,
                   minutes=args.minutes, drop_share=args.drop_share, drop_every=args.drop_every,
                   rss_every=args.rss_every, rss_growth_limit=args.rss_growth_limit)
    if args.url:
        result["database_choice"] = "external stack"
        result["soak"] = asyncio.run(soak(args.url, processes=None, pg=None, redis_url=None, **options))
    else:
        from .stack import BenchStack, database_choose

        database_url, why = database_choose()
        result["database_choice"] = why
        stack = BenchStack(database_url=database_url, name="soak").start()
        pg = PostgresCpu(stack.database_url).start() if stack.database_kind == "postgresql" else None
        try:
            result["soak"] = asyncio.run(soak(stack.base_url, processes=stack.processes(), pg=pg,
                                              redis_url=stack.redis_url, **options))
        finally:
            if pg is not None:
                result["postgres_cpu"] = pg.describe()
                pg.stop()
            stack.stop()
    result["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stamp}-soak.json").write_text(common.dumps(result), encoding="utf-8")
    (out / f"{stamp}-soak.md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))
    log(f"written: {out / (stamp + '-soak.json')} and .md")
    return 1 if result["soak"]["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
