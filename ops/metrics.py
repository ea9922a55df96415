"""Prometheus metrics, computed at scrape time from PostgreSQL and Redis.

Why not counters in process memory: daphne and every Celery worker child are separate
processes, and the work this service measures (analyses, buttons, Context7 lookups)
happens in the workers, which Prometheus does not scrape. prometheus_client's
multiprocess mode only aggregates processes of one host sharing one directory, loses
its files with each container, and would need every worker to write them. The state
that matters is already durable: every message keeps its analysis, its task metrics and
its processing time in the database, and the Context7 client keeps its counters and the
shared breaker in Redis. So each scrape (of any daphne process, they all agree) reads
them through one custom collector:

* counts from the database are cumulative (``*_total`` counters): rows are only added,
  except when a conversation is deleted, which Prometheus treats as a counter reset;
* histograms are built from the stored durations, bucket by bucket, in one query each;
* a section that fails (e.g. Redis down) is skipped and reported in
  ``tradechat_scrape_section_up{section}`` instead of failing the whole scrape.

Cost: a handful of aggregate queries over chat_messages per scrape; scrape every 15-60 s.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import timedelta

import redis
from django.conf import settings
from django.db.models import Count, FloatField, Q, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from chat.feedback import feedback_summary
from conversations.models import ChatMessage
from conversations.task_metrics import TASK_NAMES
from customs.live_services import SOURCE_NAMES, service_client, service_configured
from customs.selectors import requirements_oldest_fetch
from hscode.cache import cache_stats
from hscode.context7_consult import context7_enabled, get_client
from hscode.models import AnalysisReview, ReprocessRun

logger = logging.getLogger(__name__)

# Seconds. The detail-page budget is DETAIL_PAGE_BUDGET_MS (5 s by default).
DETAIL_PAGE_BUCKETS = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)
TASK_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)
BREAKER_STATES = ("closed", "open", "half-open", "disabled")
QUEUES = ("chat", "bulk", "io")
# kombu's Redis transport keeps priorities 3, 6 and 9 in sibling lists of the queue.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def _histogram(name: str, documentation: str, rows, field: str, scale: float, buckets,
               labels: dict[str, str] | None = None, family: HistogramMetricFamily | None = None):
    """Cumulative buckets of `field` (stored in units of 1/scale seconds) over `rows`, in one query."""
    aggregates = {f"le_{i}": Count("pk", filter=Q(**{f"{field}__lte": bound * scale})) for i, bound in
                  enumerate(buckets)}
    aggregates["n"] = Count("pk", filter=Q(**{f"{field}__isnull": False}))
    aggregates["total"] = Sum(field)
    values = rows.aggregate(**aggregates)
    points = [(repr(float(bound)), values[f"le_{i}"]) for i, bound in enumerate(buckets)]
    points.append(("+Inf", values["n"]))
    label_names = list(labels or {})
    if family is None:
        family = HistogramMetricFamily(name, documentation, labels=label_names)
    family.add_metric([labels[k] for k in label_names], points, sum_value=float(values["total"] or 0) / scale)
    return family


def collect_messages() -> Iterator[Metric]:
    messages = CounterMetricFamily(
        "tradechat_messages", "Messages stored, by role and status (user: the buttons track)",
        labels=["role", "status"],
    )
    for row in ChatMessage.objects.values("role", "status").annotate(n=Count("pk")).order_by("role", "status"):
        messages.add_metric([row["role"], row["status"]], row["n"])
    yield messages

    analysed = ChatMessage.objects.filter(role=ChatMessage.Role.USER, hscode_analysis__isnull=False)
    by_source = (
        analysed.annotate(source=KT("hscode_analysis__analysis_source"))
        .values("source")
        .annotate(
            n=Count("pk"),
            fallback=Count("pk", filter=Q(hscode_analysis__fallback_used=True)),
            cache=Count("pk", filter=Q(hscode_analysis__cache_hit=True)),
        )
        .order_by("source")
    )
    analyses = CounterMetricFamily("tradechat_analyses", "HS code analyses stored, by analysis source",
                                   labels=["source"])
    fallbacks = CounterMetricFamily("tradechat_analyses_fallback",
                                    "Analyses where Context7 failed and the local result was used")
    cache_hits = CounterMetricFamily("tradechat_detail_cache_hits",
                                     "Analyses served from the detail-page cache (a repeated question)")
    total = fallback_total = cache_total = 0
    for row in by_source:
        analyses.add_metric([row["source"] or "unknown"], row["n"])
        total += row["n"]
        fallback_total += row["fallback"]
        cache_total += row["cache"]
    fallbacks.add_metric([], fallback_total)
    cache_hits.add_metric([], cache_total)
    yield analyses
    yield fallbacks
    yield cache_hits
    yield GaugeMetricFamily("tradechat_detail_cache_hit_ratio",
                            "Share of analyses served from the detail-page cache (seed 001 KPI: 0.7)",
                            value=cache_total / total if total else 0.0)

    finished = ChatMessage.objects.filter(role=ChatMessage.Role.USER, status=ChatMessage.Status.COMPLETED)
    yield _histogram(
        "tradechat_detail_page_duration_seconds",
        "From a message to its three detail-page buttons ready (the button latency; budget 5 s)",
        finished, "detail_page_processing_time", 1000.0, DETAIL_PAGE_BUCKETS,
    )

    stale = timezone.now() - timedelta(seconds=settings.REPROCESS_STALE_AFTER_S)
    stuck = ChatMessage.objects.filter(
        role=ChatMessage.Role.USER,
        status__in=[ChatMessage.Status.PENDING, ChatMessage.Status.ANALYSING],
        updated_at__lt=stale,
    ).count()
    yield GaugeMetricFamily("tradechat_messages_stuck",
                            "Messages pending/analysing with no progress for REPROCESS_STALE_AFTER_S",
                            value=stuck)


def collect_tasks() -> Iterator[Metric]:
    durations = HistogramMetricFamily("tradechat_task_duration_seconds",
                                      "Duration of the parallel tasks of a message (parallel_task_metrics)",
                                      labels=["task"])
    statuses = CounterMetricFamily("tradechat_tasks", "Parallel tasks by final status", labels=["task", "status"])
    rows = ChatMessage.objects.filter(role=ChatMessage.Role.USER, parallel_task_metrics__isnull=False)
    for key, name in TASK_NAMES.items():
        path = f"parallel_task_metrics__task_execution__{key}"
        timed = rows.annotate(duration_ms=Cast(KT(f"{path}__duration_ms"), FloatField()))
        _histogram("", "", timed, "duration_ms", 1000.0, TASK_BUCKETS, labels={"task": name}, family=durations)
        for row in (
            rows.annotate(task_status=KT(f"{path}__status"))
            .filter(task_status__isnull=False)
            .values("task_status")
            .annotate(n=Count("pk"))
            .order_by("task_status")
        ):
            statuses.add_metric([name, row["task_status"]], row["n"])
    yield durations
    yield statuses


def collect_operators() -> Iterator[Metric]:
    reviews = CounterMetricFamily("tradechat_reviews", "Staff reviews of analyses, by verdict", labels=["verdict"])
    counts = dict(AnalysisReview.objects.values_list("verdict").annotate(n=Count("pk")).order_by())
    for verdict in AnalysisReview.Verdict.values:
        reviews.add_metric([verdict], counts.get(verdict, 0))
    yield reviews
    runs = CounterMetricFamily("tradechat_reprocess_runs", "Message reprocessing runs, by state", labels=["state"])
    counts = dict(ReprocessRun.objects.values_list("state").annotate(n=Count("pk")).order_by())
    for state in ReprocessRun.State.values:
        runs.add_metric([state], counts.get(state, 0))
    yield runs


def collect_feedback() -> Iterator[Metric]:
    """The owners' 👍/👎 standing now (a vote can be changed or withdrawn, so these are gauges, not counters)."""
    summary = feedback_summary()
    votes = GaugeMetricFamily("tradechat_answer_feedback_votes", "Votes on answers standing now, by vote",
                              labels=["vote"])
    votes.add_metric(["up"], summary.up)
    votes.add_metric(["down"], summary.down)
    yield votes
    # NaN while nobody has voted: "no data", which an alert on a low rate must not read as 0 % satisfied.
    yield GaugeMetricFamily("tradechat_answer_satisfaction_ratio",
                            "Share of 👍 among the votes on answers (seed 001 KPI: satisfaction); NaN without votes",
                            value=summary.satisfaction_rate if summary.satisfaction_rate is not None else float("nan"))
    yield GaugeMetricFamily("tradechat_answer_feedback_review_queue",
                            "People's messages whose answer got a 👎 not yet answered by a staff review",
                            value=summary.awaiting_review)


def collect_context7() -> Iterator[Metric]:
    client = get_client()
    yield GaugeMetricFamily("tradechat_context7_enabled", "1 when a Context7 library is configured",
                            value=1 if context7_enabled() else 0)
    stats = client.stats()
    calls = stats.get("http_calls", 0)
    hits, misses = stats.get("cache_hits", 0), stats.get("cache_misses", 0)
    yield CounterMetricFamily("tradechat_context7_http_calls", "HTTP calls made to Context7 (retries included)",
                              value=calls)
    yield CounterMetricFamily("tradechat_context7_cache_hits", "Context7 lookups answered by the Redis cache",
                              value=hits)
    yield CounterMetricFamily("tradechat_context7_cache_misses", "Context7 lookups not in the Redis cache",
                              value=misses)
    yield GaugeMetricFamily("tradechat_context7_cache_hit_ratio", "Context7 cache hits / lookups",
                            value=hits / (hits + misses) if hits + misses else 0.0)
    errors = CounterMetricFamily("tradechat_context7_errors", "Failed Context7 lookups, by error code",
                                 labels=["code"])
    for name, count in sorted(stats.items()):
        if name.startswith("errors:"):
            errors.add_metric([name.split(":", 1)[1]], count)
    yield errors
    status = client.breaker_status()
    state = GaugeMetricFamily("tradechat_context7_breaker_state",
                              "The shared circuit breaker's state (1 for the current one)", labels=["state"])
    for name in BREAKER_STATES:
        state.add_metric([name], 1 if status.state == name else 0)
    yield state
    yield GaugeMetricFamily("tradechat_context7_breaker_failures", "Consecutive failed lookups counted by the breaker",
                            value=status.failures)


def collect_kcs() -> Iterator[Metric]:
    """Per KCS source (ccct_gw, api029, nitemtrade, fx_gw, api030): calls, errors, cache hits, the age of the
    oldest answer still cached in Redis, and the age of the oldest requirements answer kept in PostgreSQL."""
    labels = ["source"]
    configured = GaugeMetricFamily("tradechat_kcs_configured", "1 when the source's key is set", labels=labels)
    calls = CounterMetricFamily("tradechat_kcs_calls", "HTTP calls made to a KCS source (retries included)",
                                labels=labels)
    hits = CounterMetricFamily("tradechat_kcs_cache_hits", "KCS lookups answered by the Redis cache", labels=labels)
    errors = CounterMetricFamily("tradechat_kcs_errors", "Failed KCS lookups, by error code", labels=["source", "code"])
    oldest = GaugeMetricFamily("tradechat_kcs_oldest_cached_answer_age_seconds",
                               "Age of the oldest answer of the source still in the Redis cache", labels=labels)
    now = time.time()
    for source in SOURCE_NAMES:
        configured.add_metric([source], 1 if service_configured(source) else 0)
        client = service_client(source)
        stats = client.stats()
        calls.add_metric([source], stats.get("calls", 0))
        hits.add_metric([source], stats.get("cache_hits", 0))
        for name, count in sorted(stats.items()):
            if name.startswith("errors:"):
                errors.add_metric([source, name.split(":", 1)[1]], count)
        fetched_at = client.oldest_cached_at()
        oldest.add_metric([source], now - fetched_at if fetched_at is not None else 0.0)
    yield from (configured, calls, hits, errors, oldest)
    stored = requirements_oldest_fetch()
    yield GaugeMetricFamily("tradechat_kcs_requirements_oldest_age_seconds",
                            "Age of the oldest 세관장확인대상 answer kept in PostgreSQL",
                            value=(timezone.now() - stored).total_seconds() if stored is not None else 0.0)


def collect_caches() -> Iterator[Metric]:
    """Hits and misses of each answer cache, labelled by cache: "question" (an identical repeat), "code_buttons"
    (any question about a code whose buttons are cached) and "context7" (the documentation lookups)."""
    stats = cache_stats()
    context7 = get_client().stats()
    stats["context7"] = {"hits": context7.get("cache_hits", 0), "misses": context7.get("cache_misses", 0)}
    hits = CounterMetricFamily("tradechat_cache_hits", "Lookups answered by the cache", labels=["cache"])
    misses = CounterMetricFamily("tradechat_cache_misses", "Lookups the cache could not answer", labels=["cache"])
    ratio = GaugeMetricFamily("tradechat_cache_hit_ratio", "Hits / lookups since Redis started (seed 001 KPI: 0.7)",
                              labels=["cache"])
    for name, counts in stats.items():
        hits.add_metric([name], counts["hits"])
        misses.add_metric([name], counts["misses"])
        lookups = counts["hits"] + counts["misses"]
        ratio.add_metric([name], counts["hits"] / lookups if lookups else 0.0)
    yield from (hits, misses, ratio)


def collect_queues() -> Iterator[Metric]:
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        family = GaugeMetricFamily("tradechat_celery_queue_length", "Tasks waiting in a Celery queue",
                                   labels=["queue"])
        with client.pipeline(transaction=False) as pipe:
            for queue in QUEUES:
                for suffix in _PRIORITY_SUFFIXES:
                    pipe.llen(queue + suffix)
            lengths = pipe.execute()
        for index, queue in enumerate(QUEUES):
            part = lengths[index * len(_PRIORITY_SUFFIXES) : (index + 1) * len(_PRIORITY_SUFFIXES)]
            family.add_metric([queue], sum(part))
        yield family
    finally:
        client.close()


SECTIONS = {
    "messages": collect_messages,
    "tasks": collect_tasks,
    "operators": collect_operators,
    "feedback": collect_feedback,
    "context7": collect_context7,
    "kcs": collect_kcs,
    "caches": collect_caches,
    "queues": collect_queues,
}


class ScrapeTimeCollector:
    """Reads every section at scrape time; a failing section is reported, not fatal."""

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        up = GaugeMetricFamily("tradechat_scrape_section_up", "1 when the section could be read this scrape",
                               labels=["section"])
        for name, section in SECTIONS.items():
            try:
                families = list(section())
            except Exception:
                logger.exception("metrics section %s failed", name)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from families
        yield up
        yield GaugeMetricFamily("tradechat_scrape_duration_seconds", "Time this scrape took to compute",
                                value=time.perf_counter() - started)


registry = CollectorRegistry(auto_describe=False)
registry.register(ScrapeTimeCollector())
