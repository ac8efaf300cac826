"""The one Task base class: monitor log, log context, time limits, retries and dead letters.

Tasks stay thin: they take ids, call a use-case and leave every cross-cutting concern to this class.
"""

from __future__ import annotations

import logging
import random
import time
import traceback
from collections.abc import Callable
from typing import Any

from celery import Task
from celery.exceptions import Retry

from billecta_sync import logs, metrics, monitor
from billecta_sync.container import Services, get_services
from billecta_sync.db import DeadLetter, MonitorStatus, WebhookInbox
from billecta_sync.errors import PermanentError
from billecta_sync.ratelimit import RateLimitTimeout
from billecta_sync.retry import backoff_s, is_retryable
from taskqueue import CeleryTaskQueue
from workers import timelimits

log = logging.getLogger("billecta_sync.tasks")

BUDGET_WAITS_KEY = "task-budget-waits:{}"
BUDGET_WAITS_TTL_S = 86400
MAX_BUDGET_WAITS = 200  # hours of waiting for a budget that never frees up, then the task fails as before
BUDGET_WAIT_MAX_S = 300.0  # Lime's window: a slot is free again at the latest when the window has passed
BUDGET_WAIT_JITTER_S = 10.0


class SyncTask(Task):
    abstract = True
    # Retries are counted by is_final_attempt against the configured limit, not by Celery.
    max_retries = None
    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True
    #: keyword argument holding the monitor log this run reports to, if any
    monitor_log_kwarg = "monitor_log_id"

    @property
    def services(self) -> Services:
        # One Services per process, shared by every task thread on the thread pool (see container).
        services = get_services()
        if services.queue is None:  # use-cases that start other jobs publish through this worker's app
            services.queue = CeleryTaskQueue(self.app)  # threads may race here: either publisher will do
        return services

    def time_limits(self) -> tuple[float | None, float | None]:
        """This run's (soft, hard) limits in seconds, by Celery's precedence: message, task (job), settings."""
        hard, soft = self.request.timelimit or (None, None)
        conf = self.app.conf
        return (soft or self.soft_time_limit or conf.task_soft_time_limit or None,
                hard or self.time_limit or conf.task_time_limit or None)

    @property
    def max_attempts_retries(self) -> int:
        return self.services.settings.worker.max_retries

    def is_final_attempt(self) -> bool:
        # Runs that only waited for Lime's or Billecta's budget are not failed attempts; they are looked up
        # only when the retries alone would make this the last one, so most runs cost no Redis read.
        retries = self.request.retries
        return retries >= self.max_attempts_retries and retries - self.budget_waits() >= self.max_attempts_retries

    def budget_waits(self) -> int:
        """How many of this task's runs ended waiting for a rate limit (kept in Redis by task id)."""
        try:
            raw = self.services.redis.get(BUDGET_WAITS_KEY.format(self.request.id))
        except Exception:  # Redis down: count every run as an attempt, as before
            return 0
        return int(raw) if raw else 0

    def wait_for_budget(self, services: Services, exc: RateLimitTimeout, context: dict[str, Any],
                        monitor_log_id: int | None) -> Retry | None:
        """A retry when the budget will have a slot (not counting as an attempt), or None past the cap."""
        key = BUDGET_WAITS_KEY.format(self.request.id)
        waits = int(services.redis.incr(key))
        services.redis.expire(key, BUDGET_WAITS_TTL_S)
        if waits > MAX_BUDGET_WAITS:
            return None
        # The hint is when the window frees a slot; the jitter spreads the waiting tasks over it.
        delay = min(max(exc.retry_after_s, 1.0), BUDGET_WAIT_MAX_S) + random.uniform(0, BUDGET_WAIT_JITTER_S)
        log.info("no slot in %s now; run %s waits %.0f s for it (not a failed attempt)", exc.key,
                 context["attempt"], delay, extra=context)
        metrics.TASKS.labels(job=self.name, outcome="budget_wait").inc()
        if monitor_log_id is not None:
            monitor.log_note(services.db, monitor_log_id, f"Waiting {delay:.0f} s for the {exc.key} budget")
        return self.retry(exc=exc, countdown=delay)

    def run_use_case(self, fn: Callable[..., Any], *args: Any, monitor_log_id: int | None = None,
                     on_final_failure: Callable[[BaseException], None] | None = None,
                     inbox_id: int | None = None, **kwargs: Any) -> Any:
        """Run ``fn(services, *args, **kwargs)`` under the retry policy; report to the monitor log."""
        services = self.services
        context = {"task_args": list(args), "attempt": self.request.retries + 1}
        # Everything this task logs — its own lines and the Billecta and Lime clients' request lines —
        # carries the correlation id of the webhook or command behind it, and which task it is.
        logs.clear()
        logs.bind(correlation_id=self.correlation_id(services, inbox_id), task=self.name, task_id=self.request.id,
                  inbox_id=inbox_id, monitor_log_id=monitor_log_id)
        started = time.perf_counter()
        soft_s, hard_s = self.time_limits()
        try:
            # Prefork enforces the limits itself; on the thread pool these do (workers.timelimits).
            with timelimits.hard_limit(self.name, self.request.id or "", hard_s):
                return self._run_use_case(services, fn, args, kwargs, context, monitor_log_id, on_final_failure,
                                          inbox_id, soft_s)
        finally:
            metrics.TASK_DURATION.labels(job=self.name).observe(time.perf_counter() - started)
            logs.clear()

    def correlation_id(self, services: Services, inbox_id: int | None) -> str:
        """The id the publisher sent in the task headers, else the inbox row's (rows published by the sweeper)."""
        # Not ``request.correlation_id``: Celery sets that to the task id.
        sent = getattr(self.request, logs.TASK_HEADER, None) or (self.request.headers or {}).get(logs.TASK_HEADER)
        if isinstance(sent, str) and logs.valid_correlation_id(sent):
            return sent
        if inbox_id is not None:
            try:
                with services.db.session() as session:
                    row = session.get(WebhookInbox, inbox_id)
                    return row.correlation_id if row is not None else ""
            except Exception:  # the log context is a help, never a reason to fail the task
                return ""
        return ""

    def _run_use_case(self, services: Services, fn: Callable[..., Any], args: tuple[Any, ...],
                      kwargs: dict[str, Any], context: dict[str, Any], monitor_log_id: int | None,
                      on_final_failure: Callable[[BaseException], None] | None, inbox_id: int | None,
                      soft_s: float | None = None) -> Any:
        if monitor_log_id is not None:
            monitor.log_started(services.db, monitor_log_id, self.request.id or "", logs.correlation_id())
        try:
            # Only the use-case: recording a failure after the soft limit must still reach the database and Lime.
            with timelimits.soft_limit(soft_s):
                result = fn(services, *args, **kwargs)
        except Retry:
            raise
        except PermanentError as exc:
            metrics.TASKS.labels(job=self.name, outcome="permanent_error").inc()
            log.warning("permanent failure: %s", exc, extra=context)
            if monitor_log_id is not None:
                monitor.log_finished(services.db, monitor_log_id, MonitorStatus.ERROR, str(exc))
                monitor.settle_batch_of_log(services.db, monitor_log_id)
            raise
        except Exception as exc:
            if isinstance(exc, RateLimitTimeout):
                # Month end: the budget is spent for minutes at a time. That is queueing, not failing.
                waiting = self.wait_for_budget(services, exc, context, monitor_log_id)
                if waiting is not None:
                    raise waiting from exc
            final = self.is_final_attempt() or not is_retryable(exc)
            if not final:
                delay = backoff_s(self.request.retries, services.settings.worker.retry_backoff_max_s, exc)
                log.info("attempt %s failed (%s); retrying in %.1f s", context["attempt"], exc, delay,
                         extra=context)
                metrics.TASKS.labels(job=self.name, outcome="retry").inc()
                metrics.TASK_RETRIES.labels(job=self.name).inc()
                if monitor_log_id is not None:
                    monitor.log_note(services.db, monitor_log_id,
                                     f"Attempt {context['attempt']} failed, retrying: {exc}")
                raise self.retry(exc=exc, countdown=delay) from exc
            log.error("giving up after %s attempts: %s", context["attempt"], exc, extra=context)
            if on_final_failure is not None:
                try:
                    on_final_failure(exc)
                except Exception:  # reporting must not hide the original failure
                    log.exception("could not record the final failure", extra=context)
            if monitor_log_id is not None:
                monitor.log_finished(services.db, monitor_log_id, MonitorStatus.ERROR, str(exc) or repr(exc))
                monitor.settle_batch_of_log(services.db, monitor_log_id)
            self.dead_letter(exc, args=list(args), kwargs={**kwargs, "monitor_log_id": monitor_log_id},
                             inbox_id=inbox_id)
            metrics.TASKS.labels(job=self.name, outcome="dead").inc()
            metrics.DEAD_LETTERS.labels(job=self.name).inc()
            raise
        if monitor_log_id is not None:
            message = result if isinstance(result, str) else ""
            monitor.log_finished(services.db, monitor_log_id, MonitorStatus.OK, message)
            monitor.settle_batch_of_log(services.db, monitor_log_id)
        metrics.TASKS.labels(job=self.name, outcome="ok").inc()
        return result

    def dead_letter(self, exc: BaseException, *, args: list[Any], kwargs: dict[str, Any],
                    inbox_id: int | None = None) -> None:
        with self.services.db.session() as session:
            session.add(DeadLetter(
                task_name=self.name,
                task_id=self.request.id or "",
                queue=(self.request.delivery_info or {}).get("routing_key", "") or "",
                args=args,
                kwargs={k: v for k, v in kwargs.items() if v is not None},
                exception=f"{type(exc).__name__}: {exc}"[:4000],
                traceback="".join(traceback.format_exception(exc))[-8000:],
                inbox_id=inbox_id,
                monitor_log_id=kwargs.get(self.monitor_log_kwarg),
            ))
