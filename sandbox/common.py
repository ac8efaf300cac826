"""Pieces shared by the Billecta and Lime sandboxes: fault knobs, webhook delivery, serving.

The sandboxes stand in for the real external systems, so they are deliberately imperfect on request:
added latency, random 5xx answers and 429 rate limiting can be switched on at start-up or at run time
through ``POST /_sandbox/config``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import requests
from flask import Flask, Response, jsonify, request
from werkzeug.serving import BaseWSGIServer, make_server

log = logging.getLogger(__name__)


@dataclass
class Knobs:
    """Fault injection settings; every field can be changed at run time."""

    latency_ms: float = 0.0
    error_rate: float = 0.0  # fraction of API requests answered with a 5xx
    rate_limit_per_s: float = 0.0  # 0 = unlimited; otherwise a token bucket answering 429
    rate_limit_burst: int = 0  # bucket size; 0 means "one second's worth"
    retry_after_s: int = 1  # value of the Retry-After header on a 429
    timeout_rate: float = 0.0  # fraction of requests that stall for stall_s before answering
    stall_s: float = 30.0

    def update(self, values: Mapping[str, Any]) -> None:
        known = {f.name: f.type for f in fields(self)}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"unknown knob {key!r}; known: {sorted(known)}")
            current = getattr(self, key)
            setattr(self, key, type(current)(value))


class TokenBucket:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens = 0.0
        self._stamp = time.monotonic()

    def take(self, rate: float, burst: int) -> bool:
        capacity = float(burst or max(rate, 1.0))
        with self._lock:
            now = time.monotonic()
            self._tokens = min(capacity, self._tokens + (now - self._stamp) * rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False

    def reset(self, rate: float, burst: int) -> None:
        with self._lock:
            self._tokens = float(burst or max(rate, 1.0))
            self._stamp = time.monotonic()


class FaultInjector:
    """Applies the knobs to every request whose path starts with ``api_prefix``.

    ``error_body`` builds the JSON body of injected errors in the imitated system's own style.
    """

    def __init__(self, knobs: Knobs, api_prefix: str, error_body: Callable[[str], dict[str, Any]]) -> None:
        self.knobs = knobs
        self.api_prefix = api_prefix
        self.error_body = error_body
        self.bucket = TokenBucket()
        self.bucket.reset(knobs.rate_limit_per_s, knobs.rate_limit_burst)
        self._random = random.Random()
        self.counters: dict[str, int] = {"requests": 0, "injected_5xx": 0, "injected_429": 0, "stalled": 0}
        self._lock = threading.Lock()

    def _count(self, key: str) -> None:
        with self._lock:
            self.counters[key] = self.counters.get(key, 0) + 1

    def before_request(self) -> Response | None:
        if not request.path.startswith(self.api_prefix):
            return None
        self._count("requests")
        knobs = self.knobs
        if knobs.latency_ms > 0:
            time.sleep(knobs.latency_ms / 1000.0)
        if knobs.rate_limit_per_s > 0 and not self.bucket.take(knobs.rate_limit_per_s, knobs.rate_limit_burst):
            self._count("injected_429")
            resp = jsonify(self.error_body("Too many requests; slow down."))
            resp.status_code = 429
            resp.headers["Retry-After"] = str(knobs.retry_after_s)
            return resp
        if knobs.timeout_rate > 0 and self._random.random() < knobs.timeout_rate:
            self._count("stalled")
            time.sleep(knobs.stall_s)
        if knobs.error_rate > 0 and self._random.random() < knobs.error_rate:
            self._count("injected_5xx")
            resp = jsonify(self.error_body("Injected server error (sandbox error_rate knob)."))
            resp.status_code = 503
            return resp
        return None

    def install(self, app: Flask) -> None:
        app.before_request(self.before_request)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"knobs": asdict(self.knobs), "counters": dict(self.counters)}


@dataclass
class Delivery:
    """One outbound webhook and its delivery history."""

    id: int
    url: str
    body: bytes
    headers: dict[str, str]
    event: str
    attempts: int = 0
    status: str = "pending"  # pending, delivered, failed
    last_status_code: int | None = None
    last_error: str = ""
    created: float = field(default_factory=time.time)
    delivered: float | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "url": self.url,
            "event": self.event,
            "attempts": self.attempts,
            "status": self.status,
            "last_status_code": self.last_status_code,
            "last_error": self.last_error,
            "created": self.created,
            "delivered": self.delivered,
            "body": self.body.decode("utf-8", "replace"),
        }


class WebhookSender:
    """Delivers webhooks from a background thread, in order, retrying failures with backoff.

    A delivery that still fails after ``max_attempts`` is marked failed and kept, so a test or an
    operator can ask the sandbox to send it again (like the real systems' "retrigger failed").
    """

    def __init__(
        self,
        *,
        max_attempts: int = 5,
        backoff_s: float = 0.5,
        backoff_max_s: float = 30.0,
        timeout_s: float = 10.0,
        keep: int = 50_000,
        name: str = "webhooks",
    ) -> None:
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.timeout_s = timeout_s
        self.paused = False
        self._history: deque[Delivery] = deque(maxlen=keep)
        self._by_id: dict[int, Delivery] = {}
        self._queue: deque[tuple[float, Delivery]] = deque()
        self._cond = threading.Condition()
        self._next_id = 1
        self._session = requests.Session()
        self._thread = threading.Thread(target=self._run, name=f"sandbox-{name}", daemon=True)
        self._thread.start()

    def send(self, url: str, body: bytes, headers: Mapping[str, str], event: str) -> Delivery:
        with self._cond:
            delivery = Delivery(self._next_id, url, body, dict(headers), event)
            self._next_id += 1
            self._history.append(delivery)
            self._by_id[delivery.id] = delivery
            if len(self._by_id) > (self._history.maxlen or 0):
                live = {d.id for d in self._history}
                self._by_id = {k: v for k, v in self._by_id.items() if k in live}
            self._queue.append((0.0, delivery))
            self._cond.notify()
            return delivery

    def resend(self, delivery_id: int) -> Delivery | None:
        with self._cond:
            delivery = self._by_id.get(delivery_id)
            if delivery is None:
                return None
            delivery.status = "pending"
            delivery.attempts = 0
            self._queue.append((0.0, delivery))
            self._cond.notify()
            return delivery

    def deliveries(self, status: str | None = None, since: float | None = None) -> list[Delivery]:
        with self._cond:
            return [
                d
                for d in self._history
                if (status is None or d.status == status) and (since is None or d.created >= since)
            ]

    def pending_count(self) -> int:
        with self._cond:
            return len(self._queue)

    def clear(self) -> None:
        with self._cond:
            self._queue.clear()
            self._history.clear()
            self._by_id.clear()

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._cond:
                busy = bool(self._queue) or any(d.status == "pending" for d in self._history)
            if not busy:
                return True
            time.sleep(0.02)
        return False

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue or self.paused:
                    self._cond.wait(timeout=0.5)
                now = time.monotonic()
                due = next((item for item in self._queue if item[0] <= now), None)
                if due is None:
                    soonest = min(item[0] for item in self._queue)
                    self._cond.wait(timeout=min(soonest - now, 0.5))
                    continue
                self._queue.remove(due)
                delivery = due[1]
            self._attempt(delivery)

    def _attempt(self, delivery: Delivery) -> None:
        delivery.attempts += 1
        try:
            resp = self._session.post(
                delivery.url, data=delivery.body, headers=delivery.headers, timeout=self.timeout_s
            )
            delivery.last_status_code = resp.status_code
            ok = 200 <= resp.status_code < 300
            delivery.last_error = "" if ok else resp.text[:500]
        except requests.RequestException as exc:
            ok = False
            delivery.last_status_code = None
            delivery.last_error = f"{type(exc).__name__}: {exc}"[:500]
        if ok:
            delivery.status = "delivered"
            delivery.delivered = time.time()
            return
        if delivery.attempts >= self.max_attempts:
            delivery.status = "failed"
            log.warning("webhook %s to %s failed for good: %s", delivery.event, delivery.url, delivery.last_error)
            return
        delay = min(self.backoff_max_s, self.backoff_s * (2 ** (delivery.attempts - 1)))
        with self._cond:
            # Failed deliveries go to the back so one bad event does not block the rest forever,
            # which is also how real senders behave: ordering is not guaranteed.
            self._queue.append((time.monotonic() + delay, delivery))
            self._cond.notify()


def serve_in_thread(app: Flask, host: str = "127.0.0.1", port: int = 0) -> tuple[BaseWSGIServer, str]:
    """Serve ``app`` over real HTTP from a daemon thread; returns the server and its base URL."""
    server = make_server(host, port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=f"serve-{app.name}", daemon=True)
    thread.start()
    return server, f"http://{host}:{server.server_port}"
