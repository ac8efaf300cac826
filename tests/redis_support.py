"""Redis for tests: the machine's (``TEST_REDIS_URL``), one database per stack or test module."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")


def redis_db_url(index: int) -> str:
    """A Redis database of its own for one stack; the machine's Redis, else an embedded one later."""
    return f"{REDIS_URL.rstrip('/')}/{index}"


@contextmanager
def emptied_redis(url: str, setting: str) -> Iterator[redis.Redis]:
    """A client of Redis database ``url``, emptied before and after; the test is skipped, naming ``setting``,
    when no Redis answers there."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis answers at {url} ({type(exc).__name__}); set {setting}")
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()
