"""Every catalogue job as a Celery task, registered from one place.

A task takes ids (never payloads), calls its job's use-case through ``SyncTask.run_use_case`` and leaves
monitor logs, retries, time limits and dead letters to the base class. Nothing here is per job: a new
job in ``billecta_sync.catalogue`` is a new task without a line in this package.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Celery

from billecta_sync import catalogue
from billecta_sync.catalogue import Job, Kind
from billecta_sync.errors import PermanentError
from workers.base import SyncTask


def refusal_answer(exc: PermanentError) -> dict[str, Any]:
    """What a waiting caller gets when the request cannot be done (not a task failure)."""
    answer: dict[str, Any] = {"error": str(exc)}
    for name in ("status", "code", "field"):
        value = getattr(exc, name, None)
        if value is not None:
            answer[name] = value
    return answer


def task_function(job: Job) -> Callable[..., Any]:
    def run(self: SyncTask, *args: Any, monitor_log_id: int | None = None, **kwargs: Any) -> Any:
        if job.takes_final_attempt:
            kwargs["final_attempt"] = self.is_final_attempt()
        give_up = job.resolve_final_failure()
        on_final_failure = None
        if give_up is not None:
            def on_final_failure(exc: BaseException) -> None:
                give_up(self.services, *args, exc)
        try:
            return self.run_use_case(job.resolve(), *args, monitor_log_id=monitor_log_id,
                                     on_final_failure=on_final_failure,
                                     inbox_id=args[0] if job.kind is Kind.INBOUND else None, **kwargs)
        except PermanentError as exc:
            if job.kind is Kind.INTERACTIVE:
                return refusal_answer(exc)
            raise

    run.__name__ = job.name.rsplit(".", 1)[-1]
    run.__doc__ = job.summary
    return run


def register_tasks(app: Celery) -> dict[str, Any]:
    """One task per catalogue job on ``app``; returns them by name."""
    tasks = {}
    for job in catalogue.JOBS.values():
        options: dict[str, Any] = {"bind": True, "base": SyncTask, "name": job.name, "queue": job.queue,
                                   "ignore_result": not job.wants_result, "shared": False}
        if job.soft_time_limit_s is not None:
            options["soft_time_limit"] = job.soft_time_limit_s
        if job.time_limit_s is not None:
            options["time_limit"] = job.time_limit_s
        tasks[job.name] = app.task(**options)(task_function(job))
    return tasks
