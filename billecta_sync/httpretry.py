"""The retry policy shared by the Billecta and Lime HTTP clients.

Both remote systems get the same treatment: network failures, timeouts, 5xx and 429 are retried a
bounded number of times; a ``Retry-After`` header is honoured (up to a cap, so one bad header cannot
park a worker for an hour); otherwise the wait grows exponentially with jitter so that many workers
hitting the same outage do not retry in lockstep.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import tenacity

__all__ = ["RetryAfterOrBackoff", "parse_retry_after", "retrying"]


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header (delta-seconds or HTTP-date), else None."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


class RetryAfterOrBackoff(tenacity.wait.wait_base):
    """Wait what the server asked for (capped), or back off exponentially with jitter."""

    def __init__(self, cap_s: float, initial_s: float = 0.5) -> None:
        self.cap_s = max(0.0, cap_s)
        self.initial_s = max(0.0, initial_s)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        asked = getattr(exc, "retry_after_s", None)
        if isinstance(asked, int | float) and asked >= 0:
            return min(float(asked), self.cap_s)
        # Written out rather than tenacity's wait_exponential_jitter, whose parameters changed across versions.
        exponent = min(retry_state.attempt_number - 1, 30)
        backoff = self.initial_s * (2 ** exponent) + random.uniform(0, self.initial_s)
        return min(backoff, self.cap_s)


def retrying(
    *,
    max_attempts: int,
    is_retryable: Callable[[BaseException], bool],
    cap_s: float,
    initial_s: float,
    logger: logging.Logger,
    what: str,
) -> tenacity.Retrying:
    """A fresh ``tenacity.Retrying`` for one logical call; the last error is re-raised as-is."""

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        logger.info("%s failed (attempt %d of %d): %s; retrying in %.2f s",
                    what, state.attempt_number, max_attempts, exc, wait)

    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max(1, max_attempts)),
        retry=tenacity.retry_if_exception(is_retryable),
        wait=RetryAfterOrBackoff(cap_s, initial_s),
        before_sleep=before_sleep,
        reraise=True,
    )
