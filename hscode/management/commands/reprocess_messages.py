"""python manage.py reprocess_messages [selection] [--dry-run] [--sync | --wait] -- analyse messages again."""

from __future__ import annotations

import sys
import time
import uuid
from datetime import datetime
from datetime import time as dtime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm

from conversations.models import ChatMessage
from hscode.models import ReprocessRun
from hscode.reprocessing import (
    FINAL_STATES,
    SOURCES,
    OperatorError,
    messages_select,
    reprocess_request,
    reprocess_run,
    request_summary,
)

STATUSES = [ChatMessage.Status.PENDING, ChatMessage.Status.ANALYSING, ChatMessage.Status.COMPLETED,
            ChatMessage.Status.FAILED]


def _ids(value: str) -> list[int]:
    try:
        return [int(part) for part in value.replace(" ", ",").split(",") if part]
    except ValueError as exc:
        raise CommandError(f"--ids: {value!r} is not a list of message ids") from exc


def _moment(value: str | None, option: str) -> datetime | None:
    """ISO date (midnight, local time) or date-time; naive values are in TIME_ZONE."""
    if not value:
        return None
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"{option}: {value!r} is no ISO date or date-time (2026-11-21 or 2026-11-21T09:00)")
        moment = datetime.combine(day, dtime.min)
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


class Command(BaseCommand):
    help = (
        "Reprocess people's messages: reset their analysis and run detail-page preparation again through the "
        "normal services, so connected clients receive the new buttons. Queued on the low-priority 'bulk' "
        "queue by default (--sync runs inline). Idempotent per request id; the previous analysis is kept "
        "(admin: Reprocess runs)."
    )

    def add_arguments(self, parser):
        select = parser.add_argument_group("selection (all given criteria must match; user messages only)")
        select.add_argument("--ids", action="append", default=[], help="message ids, comma-separated (repeatable)")
        select.add_argument("--conversation", help="a conversation id (UUID)")
        select.add_argument("--since", help="created at or after (ISO date or date-time)")
        select.add_argument("--until", help="created before (ISO date or date-time)")
        select.add_argument("--status", action="append", default=[], choices=STATUSES, help="repeatable")
        select.add_argument("--hscode", help="detected code starts with (85, 8517, 8517.13)")
        select.add_argument("--source", choices=SOURCES, help="analysis source")
        select.add_argument("--below-confidence", type=float, metavar="X", help="classification confidence < X")
        select.add_argument("--fallback-used", action="store_true",
                            help="only analyses where Context7 failed and the local result was used")
        select.add_argument("--limit", type=int, help="at most this many messages (oldest first)")
        select.add_argument("--all", action="store_true", help="every message (required when no criterion is given)")
        run = parser.add_argument_group("running")
        run.add_argument("--dry-run", action="store_true", help="list what would be reprocessed; change nothing")
        run.add_argument("--sync", action="store_true", help="run inline in this process instead of queueing")
        run.add_argument("--wait", action="store_true", help="queued: wait for the workers, then summarise")
        run.add_argument("--timeout", type=float, default=600, help="seconds --wait waits (default 600)")
        run.add_argument("--request-id", help="re-use a request id: messages it already covered are not redone")
        run.add_argument("--report", metavar="REQUEST_ID", help="only print the summary of an earlier request")
        run.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options):
        if options["report"]:
            self._summarise(self._uuid(options["report"], "--report"))
            return
        if options["sync"] and options["wait"]:
            raise CommandError("--wait is for queued runs; --sync already waits")
        criteria = {
            "ids": [i for value in options["ids"] for i in _ids(value)],
            "conversation": options["conversation"],
            "since": _moment(options["since"], "--since"),
            "until": _moment(options["until"], "--until"),
            "statuses": options["status"],
            "hscode": options["hscode"],
            "source": options["source"],
            "below_confidence": options["below_confidence"],
            "fallback_used": True if options["fallback_used"] else None,
        }
        if not any(v not in (None, [], "") for v in criteria.values()) and not options["all"]:
            raise CommandError("choose messages (--ids, --conversation, --since, --status, --hscode, ...) or --all")
        if criteria["conversation"]:
            self._uuid(criteria["conversation"], "--conversation")
        try:
            selected = messages_select(**criteria)
        except OperatorError as exc:
            raise CommandError(str(exc)) from exc
        if options["limit"]:
            selected = selected[: options["limit"]]
        request_id = self._uuid(options["request_id"], "--request-id") if options["request_id"] else uuid.uuid4()
        show = not options["no_progress"] and options["verbosity"] > 0

        if options["dry_run"]:
            self._list(selected, sync=options["sync"])
            return
        ids = list(selected.values_list("pk", flat=True))
        if not ids:
            self.stdout.write("no message matches; nothing to do")
            return
        self.stdout.write(f"request {request_id}: {len(ids)} message(s)")
        if options["sync"]:
            outcome = reprocess_request(ids, request_id=request_id, via="command", enqueue=False)
            self._report_existing(outcome.existing)
            for message_id in tqdm(outcome.to_run, desc="reprocess", unit=" msg", file=sys.stderr,
                                   disable=not show, leave=False):
                try:
                    reprocess_run(message_id, request_id)
                except Exception as exc:  # recorded on the run as failed; carry on with the others
                    self.stderr.write(f"message {message_id}: {type(exc).__name__}: {exc}")
            self._summarise(request_id)
            return

        queued = 0
        for message_id in tqdm(ids, desc="enqueue", unit=" msg", file=sys.stderr, disable=not show, leave=False):
            outcome = reprocess_request([message_id], request_id=request_id, via="command")
            queued += len(outcome.to_run)
            self._report_existing(outcome.existing)
        self.stdout.write(f"queued {queued} on the 'bulk' queue (re-run with --request-id {request_id} to resume "
                          f"without repeating; --report {request_id} for the summary)")
        if options["wait"]:
            self._wait(request_id, len(ids), options["timeout"], show)
            self._summarise(request_id)

    # --- helpers
    def _uuid(self, value: str, option: str) -> uuid.UUID:
        try:
            return uuid.UUID(str(value))
        except ValueError as exc:
            raise CommandError(f"{option}: {value!r} is not a UUID") from exc

    def _list(self, selected, *, sync: bool) -> None:
        count = 0
        for message in selected.iterator():
            analysis = message.analysis_record
            confidence = analysis.classification_confidence if analysis else None
            source = (analysis and analysis.analysis_source) or "-"
            self.stdout.write(
                f"#{message.pk}\t{message.created_at:%Y-%m-%d %H:%M}\t{message.status}\t"
                f"{(analysis and analysis.detected_hscode) or '-'}\t"
                f"{'-' if confidence is None else f'{confidence:.2f}'}\t{source}\t"
                f"{message.content[:60]!r}"
            )
            count += 1
        where = "inline (--sync)" if sync else "on the 'bulk' queue"
        self.stdout.write(f"dry run: would reprocess {count} message(s) {where}; nothing changed")

    def _report_existing(self, existing: dict[int, str]) -> None:
        for message_id, state in existing.items():
            self.stdout.write(f"message {message_id}: already {state} under this request; not run again")

    def _wait(self, request_id: uuid.UUID, total: int, timeout: float, show: bool) -> None:
        deadline = time.monotonic() + timeout
        with tqdm(total=total, desc="done", unit=" msg", file=sys.stderr, disable=not show, leave=False) as bar:
            while True:
                finished = ReprocessRun.objects.filter(request_id=request_id, state__in=FINAL_STATES).count()
                bar.update(finished - bar.n)
                if finished >= total:
                    return
                if time.monotonic() > deadline:
                    self.stderr.write(f"--wait: {total - finished} run(s) not finished after {timeout:g} s; "
                                      "they go on in the workers")
                    return
                time.sleep(0.25)

    def _summarise(self, request_id: uuid.UUID) -> None:
        summary = request_summary(request_id)
        if not summary["total"]:
            raise CommandError(f"no run under request {request_id}")
        states = summary["states"]
        self.stdout.write(
            f"summary of request {request_id}: {summary['total']} message(s): "
            f"done {states['done']} (code changed {len(summary['changed'])}, unchanged {summary['unchanged']}), "
            f"skipped {states['skipped']}, failed {states['failed']}, "
            f"still queued {states['queued']}, running {states['running']}"
        )
        for change in summary["changed"]:
            before, after = change["previous"] or "-", change["new"] or "-"
            self.stdout.write(f"  changed #{change['message_id']}: {before} -> {after}")
        for error in summary["errors"]:
            self.stdout.write(f"  {error['state']} #{error['message_id']}: {error['error']}")
        errors = states["failed"]
        self.stdout.write(f"errors: {errors}")
        if errors:
            raise CommandError(f"{errors} message(s) failed; see the errors above (admin: Reprocess runs)")
