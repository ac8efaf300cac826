"""Which failures are worth retrying, and how long to wait before the next attempt."""

from __future__ import annotations

import random

from billecta_sync.billecta.errors import BillectaApiRateLimitedException
from billecta_sync.billecta.errors import retryable as billecta_retryable
from billecta_sync.errors import PermanentError, TransientError
from billecta_sync.lime.errors import LimeRateLimited
from billecta_sync.lime.errors import retryable as lime_retryable


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, PermanentError):
        return False
    if isinstance(exc, TransientError | ConnectionError | TimeoutError):
        return True
    if billecta_retryable(exc) or lime_retryable(exc):
        return True
    name = type(exc).__name__
    if name in {"SoftTimeLimitExceeded", "TimeLimitExceeded", "RateLimitTimeout"}:
        return True
    # Database and Redis hiccups (SQLite busy, a failover) are worth another go.
    module = type(exc).__module__
    if module.startswith("sqlalchemy") and name == "OperationalError":
        return True
    return module.startswith("redis") and name in {"ConnectionError", "TimeoutError", "BusyLoadingError"}


def backoff_s(retries: int, cap_s: float, exc: BaseException | None = None) -> float:
    """Exponential backoff with full jitter; a server's Retry-After is a floor, within the cap.

    Never more than ``cap_s``: the broker's visibility timeout is checked against that cap at start-up,
    and a longer countdown would make Redis hand the waiting task to a second worker.
    """
    delay = random.uniform(0, min(cap_s, 2.0 * (2**retries)))
    hint = getattr(exc, "retry_after_s", None)
    if isinstance(exc, BillectaApiRateLimitedException | LimeRateLimited) and hint:
        delay = max(delay, float(hint))
    return max(1.0, min(delay, cap_s))
