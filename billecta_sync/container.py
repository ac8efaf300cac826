"""The long-lived collaborators of one process (database, clients, Redis), built once per process.

Celery's prefork pool forks after import, so these are created lazily in the child that uses them;
the pid check rebuilds them if a parent's copy is inherited.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import redis

from billecta_sync.billecta import BillectaClient
from billecta_sync.db import Database
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
        self.db.dispose()


def build_services(settings: Settings) -> Services:
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=10, socket_connect_timeout=5)
    limiter = RedisRateLimiter(client, "ratelimit:lime", settings.lime.rate_limit_requests,
                               settings.lime.rate_limit_period_s)
    billecta_limiter = RedisRateLimiter(client, "ratelimit:billecta", settings.billecta.rate_limit_requests,
                                        settings.billecta.rate_limit_period_s)
    return Services(
        settings=settings,
        db=Database(settings.database_url),
        billecta=BillectaClient(settings.billecta, rate_limiter=billecta_limiter),
        lime=LimeClient(settings.lime, rate_limiter=limiter),
        redis=client,
        pid=os.getpid(),
    )


_services: Services | None = None


def get_services() -> Services:
    global _services
    if _services is None or _services.pid != os.getpid():
        _services = build_services(get_settings())
    return _services


def set_services(services: Services | None) -> None:
    global _services
    _services = services
