"""Request budgets shared by every worker process (Lime Cloud allows 3000 requests per 5 min per IP).

The limiter is a sliding-window log: it grants at most ``limit`` requests in *any* window of
``period_s`` seconds. A token bucket would allow a full burst plus a full refill inside one period,
i.e. up to twice the budget, which is exactly what Lime's per-period counter would punish with 429s.

``RedisRateLimiter`` keeps the log in one Redis sorted set and decides in a single Lua script, so
concurrent processes cannot both take the last slot, and it uses Redis' clock so that hosts with
skewed clocks still agree. ``LocalRateLimiter`` does the same in-process for tests and single-process runs.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
import uuid
from collections import deque
from typing import Any, Protocol, runtime_checkable

from billecta_sync import deadlines, metrics

__all__ = ["LocalRateLimiter", "RateLimitTimeout", "RateLimiter", "RedisRateLimiter", "lime_rate_limiter"]


class RateLimitTimeout(Exception):
    """No slot became free within the caller's timeout; ``retry_after_s`` is the last wait hint."""

    def __init__(self, key: str, timeout_s: float, retry_after_s: float) -> None:
        super().__init__(f"rate limit {key!r}: no slot within {timeout_s:g} s (next in {retry_after_s:.2f} s)")
        self.key = key
        self.timeout_s = timeout_s
        self.retry_after_s = retry_after_s


@runtime_checkable
class RateLimiter(Protocol):
    def acquire(self, timeout_s: float = 60) -> None:
        """Block until a request may be sent; raise ``RateLimitTimeout`` if that takes too long."""
        ...

    def try_acquire(self) -> float:
        """Take a slot if one is free and return 0, else return the seconds until one frees up."""
        ...


def _check(limit: int, period_s: float) -> None:
    if int(limit) < 1:
        raise ValueError(f"rate limit must allow at least 1 request, got {limit}")
    if not period_s > 0:
        raise ValueError(f"rate limit period must be positive, got {period_s}")


class _Blocking:
    """``acquire`` on top of ``try_acquire``; shared by both limiters."""

    key: str

    def try_acquire(self) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    def acquire(self, timeout_s: float = 60) -> None:
        # Never past the task's soft time limit: a wait beyond it would run into the hard limit.
        timeout_s = deadlines.bounded(timeout_s)
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            wait = self.try_acquire()
            if wait <= 0:
                return
            remaining = deadline - time.monotonic()
            # The hint is a lower bound (others may be queued too), so if it is already too long, give up now.
            if wait > remaining:
                raise RateLimitTimeout(self.key, timeout_s, wait)
            # A little jitter so that processes woken by the same expiring slot do not all collide.
            pause = min(remaining, wait + random.uniform(0, min(0.05, wait * 0.1)))
            metrics.rate_limit_wait(self.key, pause)
            time.sleep(pause)


# KEYS[1] = sorted set of grant times; ARGV = limit, period (s), unique member.
# Answers "0" when granted, else the seconds until the oldest grant leaves the window.
# Numbers go out through string.format: Redis would otherwise turn them into integers (return values)
# or 14-digit strings (arguments), losing sub-second precision.
_SLIDING_WINDOW_LUA = """
local key = KEYS[1]
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%.6f', now - period))
if redis.call('ZCARD', key) < limit then
  redis.call('ZADD', key, string.format('%.6f', now), ARGV[3])
  redis.call('PEXPIRE', key, math.ceil(period * 1000) + 1000)
  return '0'
end
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
local wait = tonumber(oldest[2]) + period - now
if wait < 0.001 then wait = 0.001 end
return string.format('%.6f', wait)
"""


class RedisRateLimiter(_Blocking):
    """At most ``limit`` requests per ``period_s`` across all processes sharing ``key`` in Redis."""

    def __init__(self, redis_client: Any, key: str, limit: int, period_s: float) -> None:
        _check(limit, period_s)
        self.redis = redis_client
        self.key = key
        self.limit = int(limit)
        self.period_s = float(period_s)
        self._script = redis_client.register_script(_SLIDING_WINDOW_LUA)
        # Members must be unique across processes, or two grants at the same microsecond would merge.
        self._prefix = uuid.uuid4().hex
        self._counter = itertools.count()

    def try_acquire(self) -> float:
        member = f"{self._prefix}:{next(self._counter)}"
        answer = self._script(keys=[self.key], args=[self.limit, repr(self.period_s), member])
        if isinstance(answer, bytes):
            answer = answer.decode()
        return max(0.0, float(answer))

    def reset(self) -> None:
        """Forget all grants (operator tool and tests)."""
        self.redis.delete(self.key)


class LocalRateLimiter(_Blocking):
    """The same sliding window for one process (threads share it)."""

    def __init__(self, limit: int, period_s: float, key: str = "local") -> None:
        _check(limit, period_s)
        self.key = key
        self.limit = int(limit)
        self.period_s = float(period_s)
        self._grants: deque[float] = deque()
        self._lock = threading.Lock()

    def try_acquire(self) -> float:
        with self._lock:
            now = time.monotonic()
            while self._grants and self._grants[0] <= now - self.period_s:
                self._grants.popleft()
            if len(self._grants) < self.limit:
                self._grants.append(now)
                return 0.0
            return max(0.001, self._grants[0] + self.period_s - now)


def lime_rate_limiter(redis_client: Any, limit: int, period_s: float,
                      key: str = "billecta-sync:ratelimit:lime") -> RedisRateLimiter:
    """The limiter all workers use in front of Lime (pass ``LimeSettings.rate_limit_*``)."""
    return RedisRateLimiter(redis_client, key, limit, period_s)
