"""Soft time limits that work in threads: a per-thread deadline, checked before every outbound request.

Celery's prefork pool interrupts a task at its soft time limit with a signal; its thread pool has no time
limits at all, and a thread cannot be interrupted safely from outside. So a worker on threads gives each task
a deadline here (``workers.timelimits``), and the Billecta and Lime clients check it before every HTTP
request (``billecta_sync.httpsessions``) — a use-case is a series of such requests, so one past its limit
stops at the next one, at most one request timeout late. Like the signal, it fires once per task: what the
task does after (recording the failure) runs on towards the hard limit.

A wait that is not a request (for an object's lock, for a rate-limit slot) is cut at the deadline instead
(``bounded``): waiting on past it would run into the hard limit, which on threads ends the whole process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

from billecta_sync.errors import TransientError

__all__ = ["SoftTimeLimitReached", "bounded", "check", "reach", "remaining", "soft_deadline"]


class SoftTimeLimitReached(TransientError):
    """The task ran past its soft time limit; retried with backoff, like Celery's SoftTimeLimitExceeded."""


_local = threading.local()


@contextmanager
def soft_deadline(seconds: float | None) -> Iterator[None]:
    """Within the block, ``check`` raises once ``seconds`` have passed (``None``: no limit)."""
    previous = getattr(_local, "deadline", None)
    _local.deadline = None if seconds is None else time.monotonic() + seconds
    try:
        yield
    finally:
        _local.deadline = previous


def check() -> None:
    """Raise ``SoftTimeLimitReached`` the first time this thread's deadline is found passed."""
    deadline = getattr(_local, "deadline", None)
    if deadline is not None and time.monotonic() >= deadline:
        reach()


def reach() -> NoReturn:
    """Raise ``SoftTimeLimitReached`` now: a wait cut at the deadline (``bounded``) ended without its object."""
    _local.deadline = None  # once, as the signal is sent once
    raise SoftTimeLimitReached("the task ran past its soft time limit")


def remaining() -> float | None:
    """Seconds left before this thread's soft deadline (``None``: no limit, or it has fired)."""
    deadline = getattr(_local, "deadline", None)
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def bounded(wait_s: float) -> float:
    """``wait_s``, or what is left before this thread's soft deadline when that is less."""
    left = remaining()
    return wait_s if left is None else min(wait_s, left)
