"""The long-lived collaborators of one process (database, clients, Redis), built once per process.

Celery's prefork pool forks after import, so these are created lazily in the child that uses them;
the pid check rebuilds them if a parent's copy is inherited. On the thread pool every task thread of the
process shares the one ``Services``, so each member is safe to share: the SQLAlchemy engine (a session per
unit of work, the pool sized to the threads by ``set_concurrency``), the Redis client (its own connection
pool), the rate limiters (one Lua script call per slot) and the HTTP clients (a session per thread).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

import redis

from billecta_sync.billecta import BillectaClient
from billecta_sync.db import Database
from billecta_sync.db.session import DEFAULT_MAX_OVERFLOW, DEFAULT_POOL_SIZE
from billecta_sync.lime import LimeClient
from billecta_sync.mappings import FieldMappings
from billecta_sync.ratelimit import RedisRateLimiter
from billecta_sync.settings import Settings, get_settings


@dataclass
class Services:
    settings: Settings
    db: Database
    billecta: BillectaClient
    lime: LimeClient
    redis: redis.Redis
    pid: int
    #: the task queue, for use-cases that start other jobs; set by the process that runs them (workers)
    queue: Any | None = None

    def task_queue(self) -> Any:
        if self.queue is None:
            raise RuntimeError("no task queue in this process: the worker sets Services.queue")
        return self.queue

    @property
    def mappings(self) -> FieldMappings:
        return self.settings.mappings

    def close(self) -> None:
        self.billecta.close()
        self.lime.close()
        self.db.dispose()


#: tasks this process runs at the same time (1 for a prefork child; the thread count on the thread pool)
_concurrency = 1


def set_concurrency(tasks: int) -> None:
    """Tell the container how many tasks of this process run at once, before the first ``get_services``."""
    global _concurrency
    _concurrency = max(1, int(tasks))


def build_services(settings: Settings, concurrency: int | None = None) -> Services:
    threads = _concurrency if concurrency is None else max(1, concurrency)
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=10, socket_connect_timeout=5)
    limiter = RedisRateLimiter(client, "ratelimit:lime", settings.lime.rate_limit_requests,
                               settings.lime.rate_limit_period_s)
    billecta_limiter = RedisRateLimiter(client, "ratelimit:billecta", settings.billecta.rate_limit_requests,
                                        settings.billecta.rate_limit_period_s)
    # Each task thread holds at most a connection or two at a time (a use-case's session and the monitor's),
    # so keep one per thread and allow as many again in a burst; one task at a time keeps the defaults.
    pool_size = max(DEFAULT_POOL_SIZE, threads)
    return Services(
        settings=settings,
        db=Database(settings.database_url, pool_size=pool_size, max_overflow=max(DEFAULT_MAX_OVERFLOW, threads)),
        billecta=BillectaClient(settings.billecta, rate_limiter=billecta_limiter),
        lime=LimeClient(settings.lime, rate_limiter=limiter),
        redis=client,
        pid=os.getpid(),
    )


_services: Services | None = None
# The thread pool's threads ask for the services together when the first tasks arrive: one builds them.
_lock = threading.Lock()


def _reset_lock_in_child() -> None:
    # A fork while another thread held the lock would leave the child's copy locked for good.
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_lock_in_child)


def get_services() -> Services:
    global _services
    services = _services
    if services is not None and services.pid == os.getpid():
        return services
    with _lock:
        if _services is None or _services.pid != os.getpid():
            _services = build_services(get_settings())
        return _services


def set_services(services: Services | None) -> None:
    global _services
    _services = services
