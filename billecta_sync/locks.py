"""Per-object locks in Redis, so two events about the same invoice are applied one after the other."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from billecta_sync import deadlines
from billecta_sync.errors import ObjectBusy


@contextmanager
def object_lock(client: redis.Redis, key: str, *, timeout_s: float = 60, wait_s: float = 10) -> Iterator[None]:
    """Hold ``lock:<key>`` for the block; raise ``ObjectBusy`` (a transient error) when it stays taken.

    The timeout bounds how long a crashed holder can block others. The wait ends at the task's soft time
    limit if that comes first (``deadlines.bounded``), and then raises ``SoftTimeLimitReached``.
    """
    wait = deadlines.bounded(wait_s)
    lock = client.lock(f"lock:{key}", timeout=timeout_s, blocking_timeout=wait)
    if not lock.acquire():
        if wait < wait_s:
            deadlines.reach()  # the wait was cut at the soft limit: that, not a busy object, is why
        raise ObjectBusy(f"{key} is being changed by another worker")
    try:
        yield
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            # The lock expired while we worked; nothing to release. The work itself is idempotent.
            pass
