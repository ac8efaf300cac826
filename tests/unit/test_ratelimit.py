"""Rate limiters: the Redis Lua sliding window (on fakeredis) and the in-process one."""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from billecta_sync.ratelimit import LocalRateLimiter, RateLimiter, RateLimitTimeout, RedisRateLimiter

fakeredis = pytest.importorskip("fakeredis")
needs_lua = pytest.mark.skipif(
    importlib.util.find_spec("lupa") is None,
    reason="fakeredis runs Lua scripts only with lupa installed (pip install 'fakeredis[lua]')",
)


@pytest.fixture
def server() -> Any:
    return fakeredis.FakeServer()


def redis_on(server: Any) -> Any:
    return fakeredis.FakeRedis(server=server)


Grant = tuple[float, float]  # (just before the call that got the slot, just after it returned)


def assert_sliding_window(grants: list[Grant], limit: int, period_s: float, slack_s: float = 0.03) -> None:
    """No window of ``period_s`` holds more than ``limit`` grants.

    Each grant is known only to lie inside its interval (a loaded machine may delay a thread on either
    side of the call), so a violation is counted only when ``limit + 1`` grants fit inside one window
    even at the widest spacing their intervals allow.
    """
    grants = sorted(grants)
    for i in range(len(grants) - limit):
        widest = grants[i + limit][1] - grants[i][0]
        assert widest >= period_s - slack_s, f"{limit + 1} grants within {widest:.3f} s (limit {limit}/{period_s} s)"


def hammer(make: Callable[[], RateLimiter], threads: int, duration_s: float) -> list[Grant]:
    grants: list[Grant] = []
    lock = threading.Lock()
    stop = time.monotonic() + duration_s

    def work() -> None:
        limiter = make()
        while True:
            before = time.monotonic()
            if before >= stop:
                return
            wait = limiter.try_acquire()
            after = time.monotonic()
            if wait > 0:
                time.sleep(min(wait, max(0.0, stop - after)))
                continue
            if after >= stop:
                return
            with lock:
                grants.append((before, after))

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=duration_s + 5)
    return grants


@needs_lua
def test_redis_grants_limit_then_reports_wait(server: Any) -> None:
    limiter = RedisRateLimiter(redis_on(server), "rl:test", limit=3, period_s=1.0)
    assert [limiter.try_acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.try_acquire()
    assert 0.9 < wait <= 1.0
    ttl = redis_on(server).pttl("rl:test")
    assert 0 < ttl <= 2000
    assert redis_on(server).zcard("rl:test") == 3  # the refused request took no slot


@needs_lua
def test_redis_instances_share_one_budget_per_key(server: Any) -> None:
    a = RedisRateLimiter(redis_on(server), "rl:shared", limit=2, period_s=5.0)
    b = RedisRateLimiter(redis_on(server), "rl:shared", limit=2, period_s=5.0)
    other = RedisRateLimiter(redis_on(server), "rl:other", limit=2, period_s=5.0)
    assert a.try_acquire() == 0.0
    assert b.try_acquire() == 0.0
    assert a.try_acquire() > 4.0
    assert b.try_acquire() > 4.0
    assert other.try_acquire() == 0.0
    a.reset()
    assert b.try_acquire() == 0.0


@needs_lua
def test_redis_acquire_blocks_until_a_slot_frees(server: Any) -> None:
    limiter = RedisRateLimiter(redis_on(server), "rl:block", limit=2, period_s=0.4)
    started = time.monotonic()
    for _ in range(3):
        limiter.acquire(timeout_s=5)
    elapsed = time.monotonic() - started
    assert 0.35 <= elapsed < 1.5


@needs_lua
def test_redis_acquire_times_out_without_waiting_in_vain(server: Any) -> None:
    limiter = RedisRateLimiter(redis_on(server), "rl:timeout", limit=1, period_s=10.0)
    limiter.acquire()
    started = time.monotonic()
    with pytest.raises(RateLimitTimeout) as info:
        limiter.acquire(timeout_s=0.5)
    assert time.monotonic() - started < 0.3  # the wait hint already exceeds the timeout: give up at once
    assert 9.0 < info.value.retry_after_s <= 10.0
    assert info.value.key == "rl:timeout"


@needs_lua
def test_redis_threads_never_exceed_the_window(server: Any) -> None:
    grants = hammer(lambda: RedisRateLimiter(redis_on(server), "rl:threads", limit=4, period_s=0.5),
                    threads=4, duration_s=1.3)
    assert_sliding_window(grants, 4, 0.5)
    assert 8 <= len(grants) <= 12


def test_local_limiter_window_and_wait() -> None:
    limiter = LocalRateLimiter(limit=2, period_s=1.0)
    assert limiter.try_acquire() == 0.0
    assert limiter.try_acquire() == 0.0
    assert 0.9 < limiter.try_acquire() <= 1.0
    with pytest.raises(RateLimitTimeout):
        limiter.acquire(timeout_s=0.1)


def test_local_limiter_threads_never_exceed_the_window() -> None:
    shared = LocalRateLimiter(4, 0.5)  # threads of one process share one instance
    grants = hammer(lambda: shared, threads=4, duration_s=1.3)
    assert_sliding_window(grants, 4, 0.5)
    assert 8 <= len(grants) <= 12


def test_limiters_satisfy_the_protocol(server: Any) -> None:
    assert isinstance(LocalRateLimiter(1, 1.0), RateLimiter)
    assert isinstance(RedisRateLimiter(redis_on(server), "k", 1, 1.0), RateLimiter)


@pytest.mark.parametrize(("limit", "period"), [(0, 1.0), (1, 0.0), (1, -1.0)])
def test_invalid_limits(limit: int, period: float) -> None:
    with pytest.raises(ValueError):
        LocalRateLimiter(limit, period)
