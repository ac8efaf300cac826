"""RedisRateLimiter against a real Redis: separate processes share one budget."""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from billecta_sync.ratelimit import RedisRateLimiter

REDIS_URL = os.environ.get("TEST_RATELIMIT_REDIS_URL", "redis://127.0.0.1:6379/15")
LIMIT = 5
PERIOD_S = 1.0
DURATION_S = 2.6


def _redis() -> Any:
    import redis

    return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=5)


@pytest.fixture
def key() -> Iterator[str]:
    try:
        client = _redis()
        client.ping()
    except Exception as exc:
        pytest.skip(f"no Redis answers at {REDIS_URL} ({type(exc).__name__}); set TEST_RATELIMIT_REDIS_URL")
    name = f"test:ratelimit:{uuid.uuid4().hex}"
    yield name
    client.delete(name)
    client.close()


def _worker(key: str, stop_at: float, out: Any) -> None:
    limiter = RedisRateLimiter(_redis(), key, LIMIT, PERIOD_S)
    # Each grant as (just before the call that got it, just after): a busy machine may delay a process
    # on either side of the call, so only the interval is known. Wall clock: comparable across processes.
    grants: list[tuple[float, float]] = []
    while True:
        before = time.time()
        if before >= stop_at:
            break
        wait = limiter.try_acquire()
        after = time.time()
        if wait > 0:
            time.sleep(min(wait, max(0.0, stop_at - after)))
            continue
        if after >= stop_at:
            break
        grants.append((before, after))
    out.put(grants)


def test_processes_share_one_sliding_window(key: str) -> None:
    ctx = multiprocessing.get_context("spawn")  # a clean interpreter, like a separate worker process
    out = ctx.Queue()
    start_at = time.time() + 1.5  # give spawned interpreters time to import before the clock starts
    stop_at = start_at + DURATION_S
    procs = [ctx.Process(target=_delayed_worker, args=(key, start_at, stop_at, out)) for _ in range(3)]
    for p in procs:
        p.start()
    results = [out.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(timeout=10)
    grants = sorted(tuple(g) for r in results for g in r)
    for i in range(len(grants) - LIMIT):
        widest = grants[i + LIMIT][1] - grants[i][0]  # even at the widest spacing the intervals allow
        assert widest >= PERIOD_S - 0.05, f"{LIMIT + 1} grants within {widest:.3f} s across processes"
    # A window of 2.6 s fits at most 3 full budgets and at least 2.
    assert LIMIT * 2 <= len(grants) <= LIMIT * 3


def _delayed_worker(key: str, start_at: float, stop_at: float, out: Any) -> None:
    time.sleep(max(0.0, start_at - time.time()))
    _worker(key, stop_at, out)
