"""Prometheus metrics of every process, declared once (documented in docs/operations.md, "Metrics").

Counters and histograms live in ``prometheus_client``'s default registry. Under gunicorn (several gateway
processes) or a prefork Celery worker, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory shared by the
processes of one service: each process then writes its values there and ``render`` adds them up, so a
scrape sees the whole service rather than whichever process answered. Without it (tests, a single
process) the default registry is read directly.

Labels hold only names from the code (job, route, source, scope, reason, status): never an id, a key or a
body, so the number of series stays bounded and nothing secret reaches the scrape.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("billecta_sync.metrics")

PREFIX = "billecta_sync"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# -- gateway ----------------------------------------------------------------------------------------------
WEBHOOKS_RECEIVED = Counter(f"{PREFIX}_webhooks_received_total", "Inbound webhooks answered by the gateway",
                            ["source", "outcome"])
COMMANDS = Counter(f"{PREFIX}_commands_total", "Lime commands answered by the gateway", ["job", "status"])
AUTH_FAILURES = Counter(f"{PREFIX}_auth_failures_total", "Requests refused for their API key (never the key itself)",
                        ["scope", "reason"])

# -- worker -------------------------------------------------------------------------------------------------
TASKS = Counter(f"{PREFIX}_tasks_total", "Task runs by job and outcome (ok, retry, permanent_error, dead)",
                ["job", "outcome"])
TASK_DURATION = Histogram(f"{PREFIX}_task_duration_seconds", "Run time of one task attempt", ["job"],
                          buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
TASK_RETRIES = Counter(f"{PREFIX}_task_retries_total", "Task attempts that failed and were retried", ["job"])
DEAD_LETTERS = Counter(f"{PREFIX}_dead_letters_total", "Tasks that failed for good (a dead-letter row)", ["job"])
OUTBOUND_REQUESTS = Counter(f"{PREFIX}_outbound_requests_total",
                            "HTTP requests to Billecta and Lime by route and status (or the connection error)",
                            ["system", "route", "status"])
RATE_LIMIT_WAITS = Counter(f"{PREFIX}_rate_limit_waits_total",
                           "Times a request waited for a slot of a shared rate limit", ["limiter"])
RATE_LIMIT_WAIT_SECONDS = Counter(f"{PREFIX}_rate_limit_wait_seconds_total",
                                  "Seconds spent waiting for shared rate-limit slots", ["limiter"])


def webhook_received(source: str, outcome: str) -> None:
    _webhooks_received(source, outcome).inc()


@functools.cache
def _webhooks_received(source: str, outcome: str) -> Any:
    # Each labelled counter found once (a few sources times a few outcomes): labels() cost the gateway more
    # than the increment itself on every webhook.
    return WEBHOOKS_RECEIVED.labels(source=source, outcome=outcome)


def outbound(system: str, route: str, status: int | str) -> None:
    OUTBOUND_REQUESTS.labels(system=system, route=route, status=str(status)).inc()


def rate_limit_wait(limiter: str, seconds: float) -> None:
    # The limiter key is a fixed name per system ("lime", "billecta"), not a caller's value.
    RATE_LIMIT_WAITS.labels(limiter=limiter).inc()
    RATE_LIMIT_WAIT_SECONDS.labels(limiter=limiter).inc(max(0.0, seconds))


class ScrapeTimeGauges(Collector):
    """Gauges read when scraped (inbox backlog, oldest queued age, running batches), from ``read``.

    ``read`` returns ``{"backlog": {status: n}, "oldest_queued_age_s": float | None, "running_batches": n}``;
    a failure to read leaves these gauges out of that scrape (``billecta_sync_scrape_error`` 1) instead of
    failing the whole scrape.
    """

    def __init__(self, read: Callable[[], dict[str, Any]]) -> None:
        self._read = read

    def collect(self) -> Iterable[GaugeMetricFamily]:
        error = GaugeMetricFamily(f"{PREFIX}_scrape_error", "1 when the scrape-time gauges could not be read")
        try:
            values = self._read()
        except Exception as exc:  # the database is down: say so, keep the counters
            log.warning("scrape-time gauges unavailable: %s", type(exc).__name__)
            error.add_metric([], 1)
            yield error
            return
        error.add_metric([], 0)
        yield error
        backlog = GaugeMetricFamily(f"{PREFIX}_inbox_rows", "Inbox rows by status", labels=["status"])
        for status, count in sorted(values.get("backlog", {}).items()):
            backlog.add_metric([status], count)
        yield backlog
        oldest = GaugeMetricFamily(f"{PREFIX}_inbox_oldest_open_age_seconds",
                                   "Age of the oldest inbox row still received, queued, processing or failed "
                                   "(0 when none)")
        oldest.add_metric([], float(values.get("oldest_open_age_s") or 0.0))
        yield oldest
        running = GaugeMetricFamily(f"{PREFIX}_monitor_batches_running", "Monitor batches still running")
        running.add_metric([], float(values.get("running_batches", 0)))
        yield running


def registry(extra: Iterable[Collector] = ()) -> CollectorRegistry:
    """What one scrape reads: all processes' values when multiprocess mode is on, plus ``extra``."""
    if os.environ.get(MULTIPROC_ENV):
        chosen = CollectorRegistry()
        multiprocess.MultiProcessCollector(chosen)
    else:
        if not extra:
            return REGISTRY
        chosen = CollectorRegistry()
        chosen.register(_Forward(REGISTRY))
    for collector in extra:
        chosen.register(collector)
    return chosen


class _Forward(Collector):
    """The default registry's metrics inside a per-scrape registry (which adds the scrape-time gauges)."""

    def __init__(self, source: CollectorRegistry) -> None:
        self._source = source

    def collect(self) -> Iterable[Any]:
        return self._source.collect()


def render(extra: Iterable[Collector] = ()) -> tuple[bytes, str]:
    """The text exposition format, and its content type."""
    return generate_latest(registry(extra)), CONTENT_TYPE_LATEST


def start_worker_exporter(port: int, addr: str = "127.0.0.1") -> None:
    """Serve this worker's metrics on ``addr:port`` (``WORKER_METRICS_PORT``; 0 = off)."""
    if port <= 0:
        return
    from prometheus_client import start_http_server

    start_http_server(port, addr=addr, registry=registry())
    log.info("worker metrics on http://%s:%s/metrics", addr, port)


def mark_process_dead(pid: int) -> None:
    """Forget a finished process's live gauges (multiprocess mode; counters stay summed)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)
