"""The gateway's publisher: a webhook's job goes straight onto the Redis list Celery's workers read.

Celery's ``send_task`` cost about 0.3 ms of CPU per webhook, a third of what the gateway spent on one:
routing, the producer pool, declaring the queue again, retry wrappers, and kombu building a new Redis client
object for every message. A webhook's job is always the same kind of message (integer ids in, no result
wanted), so ``GatewayPublisher`` writes exactly what Celery would — Celery's own task headers and body, from
``amqp.create_task_message`` once per task name, in kombu's Redis envelope — with only the per-message fields
filled in, and LPUSHes it over a connection each thread keeps (redis-py's pool checks a connection for
stale data with a system call before every command). Anything else (a result to wait for, keyword
arguments, other options, a broker configuration the message would depend on) goes through Celery
unchanged. ``tests/integration/webhook_gateway`` compares both messages field by field.

A failed LPUSH raises, as Celery's publish does: the caller leaves the stored row for the sweeper.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import os
import random
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import Any

import redis
from celery import Celery, signals
from redis.backoff import NoBackoff
from redis.retry import Retry

from billecta_sync import logs
from taskqueue import PUBLISH_RETRY_POLICY, PUBLISHED_AT_HEADER, CeleryTaskQueue, broker_queue

log = logging.getLogger("webhook_gateway.publisher")

#: kombu's Redis transport options that change the key a message lands under; with any of them set, the
#: message is only right when kombu itself builds it.
_KEY_OPTIONS = frozenset({"global_keyprefix", "sep", "priority_steps"})
#: what kombu adds to Celery's properties: persistent delivery (what Celery's queues declare), the default
#: priority, and the body's encoding on Redis
_ENVELOPE_PROPERTIES = {"delivery_mode": 2, "priority": 0, "body_encoding": "base64"}
#: how the gateway's publishing connections name themselves to Redis (CLIENT LIST)
CLIENT_NAME = "billecta-sync-gateway"
# A webhook's answer must not hang on a dead broker (it is stored; the sweeper publishes it later).
_CONNECT_TIMEOUT_S = 2.0
_SOCKET_TIMEOUT_S = 5.0
#: the pause before each try: none before the first, then Celery's retry policy for the gateway's publishes
_RETRY_PAUSES_S: tuple[float, ...] = (0.0, *(
    min(PUBLISH_RETRY_POLICY["interval_start"] + n * PUBLISH_RETRY_POLICY["interval_step"],
        PUBLISH_RETRY_POLICY["interval_max"]) for n in range(PUBLISH_RETRY_POLICY["max_retries"])))


def direct_publish_problem(celery: Celery) -> str:
    """Why messages for this Celery app must be built by kombu, or "" when the direct path fits."""
    conf = celery.conf
    url = str(conf.broker_url or "")
    if not url.startswith(("redis://", "rediss://")):
        return f"broker is not a plain Redis URL ({url.partition(':')[0] or 'none'})"
    if conf.task_protocol != 2:
        return f"task protocol {conf.task_protocol}"
    if conf.task_serializer != "json" or conf.task_compression:
        return "a serializer other than plain JSON"
    if conf.task_default_priority is not None:
        return "a default task priority"
    if conf.task_send_sent_event:
        return "task-sent events are on"
    options = set(conf.broker_transport_options or {}) & _KEY_OPTIONS
    if options:
        return f"broker transport options {', '.join(sorted(options))}"
    return ""


class _KernelTimeoutConnection(redis.Connection):
    """redis-py's TCP connection with its socket timeout kept by the kernel (SO_SNDTIMEO, SO_RCVTIMEO) on a
    blocking socket. A Python-level timeout costs a poll() before every send and every receive: two system
    calls more per webhook, each one letting another thread take the interpreter lock. An expired kernel
    timeout fails the read or write, which redis-py raises as a ConnectionError, as it does a dead socket."""

    def _connect(self) -> socket.socket:
        sock = super()._connect()
        timeout = self.socket_timeout
        if timeout:
            seconds = int(timeout)
            timeval = struct.pack("ll", seconds, int((timeout - seconds) * 1_000_000))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
            sock.settimeout(None)
        return sock


def _lpush_frame(key: str, message: bytes) -> bytes:
    name = key.encode()
    return b"*3\r\n$5\r\nLPUSH\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(name), name, len(message), message)


#: a per-message value's place in an envelope template: a JSON string no real value can be
_SLOT = re.compile(r'"\\u0000slot:(\w+)\\u0000"')


def _slot(name: str) -> str:
    return f"\x00slot:{name}\x00"


@dataclass(frozen=True)
class _Envelope:
    """A message's JSON as a %-format string: its text with ``%`` doubled and each slot a ``%(name)s``, so a
    message is one format call over its per-message values (each given as the JSON text it is written as)."""

    text: str
    #: what kombu's JSON serializer writes after the body's args: kwargs and the embedded options
    body_tail: str

    @classmethod
    def around_slots(cls, dumped: str, body_tail: str) -> _Envelope:
        return cls(_SLOT.sub(lambda slot: f"%({slot.group(1)})s", dumped.replace("%", "%%")), body_tail)


#: the bits ``uuid.UUID(int=..., version=4)`` sets: version 4 and the RFC 4122 variant
_UUID4_KEEP = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID4_SET = (4 << 76) | (0x8000 << 48)


def _message_id() -> str:
    # A random (version 4) UUID, as Celery's, from the process's Mersenne Twister (reseeded in every forked
    # worker) instead of os.urandom: that is a system call, which lets another thread take the interpreter
    # lock, and a task id needs uniqueness, not secrecy. Formatted here: uuid.UUID's constructor cost more
    # than filling the rest of the message.
    digits = f"{(random.getrandbits(128) & _UUID4_KEEP) | _UUID4_SET:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


class GatewayPublisher:
    """``billecta_sync.queueing.TaskQueue``: fire-and-forget jobs directly on Redis, the rest via Celery."""

    def __init__(self, queue: CeleryTaskQueue, client: redis.Redis | None = None) -> None:
        self.queue = queue
        self.celery: Celery = queue.celery  # as CeleryTaskQueue, for callers reading the result backend
        # per (task name, process): Celery's headers and properties for it, and its body's encoded tail
        self._templates: dict[tuple[str, int], tuple[dict[str, Any], dict[str, Any], str]] = {}
        # per (task name, queue, reply queue, with a correlation id, process): the message's JSON around its slots
        self._envelopes: dict[tuple[str, str, str, bool, int], _Envelope] = {}
        self._local = threading.local()  # each thread's (process id, Redis connection)
        problem = direct_publish_problem(self.celery)
        if problem:
            log.info("publishing every job through Celery: %s", problem)
            self.client: redis.Redis | None = None
        else:
            url = str(self.celery.conf.broker_url)
            # plain TCP only: TLS (rediss://) keeps redis-py's own connection class
            plain = {"connection_class": _KernelTimeoutConnection} if url.startswith("redis://") else {}
            self.client = client or redis.Redis.from_url(
                url, socket_connect_timeout=_CONNECT_TIMEOUT_S, socket_timeout=_SOCKET_TIMEOUT_S,
                retry=Retry(NoBackoff(), 0), client_name=CLIENT_NAME, **plain)  # tries: _lpush
            self._connections = self.client.connection_pool

    def publish(self, task_name: str, args: list[Any], queue: str, *, want_result: bool = False,
                **options: Any) -> str:
        # A receiver of Celery's publish signals expects to see (and may change) every message.
        if (self.client is None or want_result or options or signals.before_task_publish.receivers
                or signals.after_task_publish.receivers or not all(type(arg) is int for arg in args)):
            return self.queue.publish(task_name, args, queue, want_result=want_result, **options)
        task_id = _message_id()
        name = broker_queue(queue, self.queue.namespace)
        self._lpush(name, self.message(task_id, task_name, args, name))
        return task_id

    def _lpush(self, key: str, message: bytes) -> None:
        # As patient as Celery's publish (PUBLISH_RETRY_POLICY): a socket Redis closed (a restart, an idle
        # timeout) or a Redis restarting fails with ConnectionError and is tried again on a new socket.
        # Should an earlier push have landed after all, the worker's claim makes the repeat a no-op.
        last = len(_RETRY_PAUSES_S) - 1
        for attempt, pause in enumerate(_RETRY_PAUSES_S):
            if pause:
                time.sleep(pause)
            connection = self._connection()
            try:
                # the command as RESP, written here: redis-py's packer cost as much as the round trip
                connection.send_packed_command([_lpush_frame(key, message)], check_health=False)
                connection.read_response()
                return
            except redis.ConnectionError:
                connection.disconnect()
                if attempt == last:
                    raise

    def _connection(self) -> Any:
        held = getattr(self._local, "connection", None)
        if held is None or held[0] != os.getpid():  # never a socket inherited across a fork
            held = self._local.connection = (os.getpid(), self._connections.make_connection())
        return held[1]

    def message(self, task_id: str, task_name: str, args: list[Any], queue: str) -> bytes:
        """The Redis list entry Celery would write for this job (integer ``args``) on broker queue ``queue``,
        with the headers ``CeleryTaskQueue.publish`` adds."""
        correlation = logs.correlation_id()
        key = (task_name, queue, self.celery.thread_oid, bool(correlation), os.getpid())
        envelope = self._envelopes.get(key)
        if envelope is None:
            envelope = self._envelopes[key] = self._envelope(task_name, queue, with_correlation=bool(correlation))
        args_text = f"[{', '.join([str(arg) for arg in args])}]"  # JSON and repr() alike, for integers
        body = base64.b64encode(f"[{args_text}, {envelope.body_tail}".encode()).decode("ascii")
        # the ids, the args and base64 need no JSON escaping; a correlation id comes from the caller's context
        return (envelope.text % {
            "id": f'"{task_id}"', "argsrepr": f'"{args_text}"',
            "correlation": encode_basestring_ascii(correlation), "published_at": repr(round(time.time(), 3)),
            "delivery_tag": f'"{_message_id()}"', "body": f'"{body}"'}).encode()

    def _envelope(self, task_name: str, queue: str, *, with_correlation: bool) -> _Envelope:
        """The message of ``message`` around its per-message values: kombu's envelope, once per task, queue,
        thread (its reply queue) and process, with a slot for each value; a webhook's message is then one
        format call instead of building and encoding the whole envelope."""
        headers, properties, body_tail = self._template(task_name)
        headers = {**headers, "id": _slot("id"), "root_id": _slot("id"), "argsrepr": _slot("argsrepr")}
        if with_correlation:
            headers[logs.TASK_HEADER] = _slot("correlation")
        headers[PUBLISHED_AT_HEADER] = _slot("published_at")
        properties = {**properties, "correlation_id": _slot("id"), "reply_to": self.celery.thread_oid,
                      "delivery_info": {"exchange": "", "routing_key": queue},  # direct: by the queue's name
                      "delivery_tag": _slot("delivery_tag")}
        envelope = {"body": _slot("body"), "content-encoding": "utf-8", "content-type": "application/json",
                    "headers": headers, "properties": properties}
        return _Envelope.around_slots(json.dumps(envelope), body_tail)

    def _template(self, task_name: str) -> tuple[dict[str, Any], dict[str, Any], str]:
        key = (task_name, os.getpid())  # "origin" names the process
        template = self._templates.get(key)
        if template is None:
            headers, properties, body, _sent = self.celery.amqp.create_task_message(
                "", task_name, [], {}, ignore_result=True)
            args, kwargs, embed = body
            # Everything after the args, as kombu's JSON serializer writes it: kwargs and the embedded options.
            tail = json.dumps([args, kwargs, embed]).removeprefix("[[], ")
            template = self._templates[key] = (copy.deepcopy(headers), {**properties, **_ENVELOPE_PROPERTIES},
                                               tail)
        return template

    def wait(self, task_id: str, timeout: float) -> Any | None:
        return self.queue.wait(task_id, timeout)
