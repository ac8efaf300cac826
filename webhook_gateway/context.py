"""The gateway's collaborators, stored once per app in ``app.extensions["billecta_sync"]``."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import redis
from flask import Request, current_app, g, request

from billecta_sync import inbox
from billecta_sync.db import Database
from billecta_sync.queueing import TaskQueue
from billecta_sync.settings import SCOPES, Settings

EXTENSION_KEY = "billecta_sync"


@dataclass
class Gateway:
    settings: Settings
    db: Database
    publisher: TaskQueue
    redis_client: Any | None = None
    #: every scope's API keys as bytes, encoded once rather than on every request (``auth.check_scopes``)
    api_keys: dict[str, tuple[bytes, ...]] = field(init=False, repr=False)
    #: the lowered names of the headers a stored webhook keeps only as "***": credentials and the key header
    secret_headers: frozenset[str] = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.api_keys = {scope: tuple(secret.get().encode("utf-8") for secret in self.settings.api_keys(scope))
                         for scope in SCOPES}
        self.secret_headers = inbox.secret_header_names([self.settings.gateway.api_key_header])

    @property
    def redis(self) -> Any:
        """A Redis client for readiness checks, built on first use (short timeouts: a probe must not hang)."""
        with self._lock:
            if self.redis_client is None:
                self.redis_client = redis.Redis.from_url(
                    self.settings.redis_url, socket_timeout=2, socket_connect_timeout=2
                )
            return self.redis_client


# Every attribute read through one of Flask's context proxies (``request``, ``g``, ``current_app``) costs as much as
# a dozen plain ones: the functions a webhook passes through resolve a proxy once and read the object behind it.


def gateway() -> Gateway:
    return current_app._get_current_object().extensions[EXTENSION_KEY]  # type: ignore[attr-defined]


def current_request() -> Request:
    """The request being served (the object behind ``flask.request``)."""
    return request._get_current_object()  # type: ignore[attr-defined, no-any-return]


def request_globals() -> Any:
    """This request's ``flask.g`` (the object behind the proxy)."""
    return g._get_current_object()
