"""Time limits for tasks on Celery's thread pool, which enforces none of its own.

On prefork, Celery signals a task at its soft limit and kills its child process at the hard limit; the
per-object locks (``WorkerSettings.lock_timeout_s``) and inbox leases (``inbox_lease_s``) are sized on the
promise that no task outlives its hard limit. On threads that promise is kept here:

- **soft limit**: the task runs inside ``billecta_sync.deadlines.soft_deadline``, so its next Billecta or Lime
  request raises ``SoftTimeLimitReached`` (retried like ``SoftTimeLimitExceeded``);
- **hard limit**: a watchdog thread looks at the running tasks every second; a thread cannot be killed, so a
  task past its hard limit ends the whole process (exit code ``HARD_LIMIT_EXIT_CODE``), as prefork ends the
  child. Its other tasks were not acknowledged (``acks_late``) and come back from the broker; whatever runs
  the worker (compose, systemd) starts it again.

``enable`` is called once by the worker when it starts on the thread pool (``workers.celery_app``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass

from billecta_sync import deadlines

log = logging.getLogger("billecta_sync.tasks")

#: EX_TEMPFAIL: the worker stopped itself and wants to be started again
HARD_LIMIT_EXIT_CODE = 75


@dataclass(frozen=True)
class Running:
    task: str
    task_id: str
    started: float
    hard_at: float


def exit_process(overdue: Running) -> None:
    log.critical("task %s[%s] ran past its hard time limit (%.0f s); a thread cannot be stopped, so this worker "
                 "process exits and its unacknowledged tasks return to the queue",
                 overdue.task, overdue.task_id, overdue.hard_at - overdue.started)
    logging.shutdown()  # flush the line above: _exit skips every handler
    os._exit(HARD_LIMIT_EXIT_CODE)


class Watchdog:
    """Hard time limits of the tasks running in this process's threads."""

    def __init__(self, on_overdue: Callable[[Running], None] = exit_process, interval_s: float = 1.0) -> None:
        self.on_overdue = on_overdue
        self.interval_s = interval_s
        self._running: dict[int, Running] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="time-limit-watchdog", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    @contextmanager
    def hard_limit(self, task: str, task_id: str, seconds: float | None) -> Iterator[None]:
        """Watch the block: past ``seconds`` from now ``on_overdue`` is called (``None``: no limit)."""
        ident = threading.get_ident()
        now = time.monotonic()
        if seconds is not None:
            with self._lock:
                self._running[ident] = Running(task, task_id, now, now + seconds)
        try:
            yield
        finally:
            with self._lock:
                self._running.pop(ident, None)

    def overdue(self, now: float | None = None) -> list[Running]:
        at = time.monotonic() if now is None else now
        with self._lock:
            return [entry for entry in self._running.values() if entry.hard_at <= at]

    def _watch(self) -> None:
        while not self._stop.wait(self.interval_s):
            for entry in self.overdue():
                self.on_overdue(entry)


_watchdog: Watchdog | None = None


def enable(watchdog: Watchdog | None = None) -> Watchdog:
    """Enforce the limits in this process from now on (the thread pool's worker calls this once)."""
    global _watchdog
    if _watchdog is None:
        _watchdog = watchdog or Watchdog()
        _watchdog.start()
    return _watchdog


def disable() -> None:
    global _watchdog
    if _watchdog is not None:
        _watchdog.stop()
        _watchdog = None


def enabled() -> bool:
    return _watchdog is not None


def hard_limit(task: str, task_id: str, seconds: float | None) -> AbstractContextManager[None]:
    """One task's hard limit when this process enforces it itself; nothing otherwise (prefork: Celery does)."""
    if _watchdog is None:
        return nullcontext()
    return _watchdog.hard_limit(task, task_id, seconds)


def soft_limit(seconds: float | None) -> AbstractContextManager[None]:
    """One task's soft limit, met at its next outbound request, when this process enforces limits itself."""
    if _watchdog is None:
        return nullcontext()
    return deadlines.soft_deadline(seconds)
