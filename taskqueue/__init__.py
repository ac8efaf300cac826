"""The task queue on Celery: the broker configuration every process shares, and the publisher.

The gateway, the CLI and beat publish jobs by name through ``CeleryTaskQueue`` on a publisher-only app
(``make_celery``); only ``workers`` registers the task functions. Queues and routes come from the job
catalogue, so a new job needs no change here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

import redis
from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeoutError
from kombu import Queue
from kombu.exceptions import OperationalError as KombuOperationalError

from billecta_sync import catalogue, logs
from billecta_sync.queueing import TaskFailed
from billecta_sync.settings import Settings, get_settings

log = logging.getLogger("billecta_sync.taskqueue")

PUBLISHED_AT_HEADER = "x_published_at"
#: the app's BROKER_NAMESPACE, kept in its configuration so a publisher built from the app alone knows it
NAMESPACE_CONF = "billecta_sync_broker_namespace"
# A webhook answer must not hang on a dead broker: Billecta waits on us and retries anyway.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


AMQP_SCHEMES = ("amqp://", "amqps://", "pyamqp://")


def is_amqp(url: str) -> bool:
    """Whether ``url`` names a RabbitMQ (AMQP) broker rather than Redis."""
    return url.startswith(AMQP_SCHEMES)


def broker_queue(name: str, namespace: str = "") -> str:
    """The broker's name of catalogue queue ``name`` (``BROKER_NAMESPACE`` lets stacks share one vhost)."""
    return f"{namespace}.{name}" if namespace else name


def broker_queues(settings: Settings, names: Iterable[str] = catalogue.QUEUES) -> list[str]:
    """The broker's names of catalogue queues, e.g. for a worker's ``-Q``."""
    return [broker_queue(name, settings.broker_namespace) for name in names]


def broker_transport_options(settings: Settings) -> dict[str, object]:
    vt = settings.worker.visibility_timeout_s
    if is_amqp(settings.broker):
        # RabbitMQ hands an unacknowledged task back as soon as its consumer's connection closes (no timeout
        # to wait out); the longest a delivery may stay unacknowledged is the server's consumer_timeout, which
        # must be at least WORKER_VISIBILITY_TIMEOUT_S (docs/operations.md, Brokers). Publisher confirms: a
        # publish that returned reached the broker, as an LPUSH on Redis does.
        return {"confirm_publish": True}
    # Redis redelivers unacknowledged tasks after this long; it must outlast any retry countdown. kombu looks
    # for them only every interval times throttle seconds (10 times 10 by default), so a dead worker's tasks
    # came back up to 100 s after the timeout: it looks every tenth of the timeout instead (1 to 10 s), one
    # cheap sorted-set read each time.
    return {"visibility_timeout": vt, "unacked_restore_interval": restore_interval_s(vt), "unacked_restore_throttle": 1}


def restore_interval_s(visibility_timeout_s: int) -> int:
    """How often a Redis consumer looks for unacknowledged tasks past the visibility timeout."""
    return max(1, min(10, visibility_timeout_s // 10))


def celery_config(settings: Settings) -> dict[str, object]:
    vt = settings.worker.visibility_timeout_s
    namespace = settings.broker_namespace
    config: dict[str, object] = {
        "broker_url": settings.broker,
        "result_backend": settings.redis_url,  # the gateway waits on answers through Redis, whatever the broker
        # At-least-once: a task is acknowledged only after it ran, and put back if its worker died.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": broker_transport_options(settings),
        "result_backend_transport_options": {"visibility_timeout": vt},
        "visibility_timeout": vt,
        "task_ignore_result": True,  # interactive tasks opt back in; history lives in our own tables
        "result_expires": 600,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_queues": [Queue(name) for name in broker_queues(settings)],
        "task_default_queue": broker_queue(catalogue.QUEUE_BULK, namespace),
        "task_routes": {job.name: {"queue": broker_queue(job.queue, namespace)} for job in catalogue.JOBS.values()},
        "task_soft_time_limit": settings.worker.task_soft_time_limit_s,
        "task_time_limit": settings.worker.task_time_limit_s,
        "task_publish_retry": True,
        "task_publish_retry_policy": {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5,
                                      "interval_max": 2},
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 5,
        "worker_soft_shutdown_timeout": 10.0,
        "worker_max_tasks_per_child": 1000,
        "worker_hijack_root_logger": False,
        # No "task-sent" event per publish: it doubled the cost of acknowledging a webhook; Flower still
        # sees every task through the workers' own events.
        "task_send_sent_event": False,
        "worker_send_task_events": True,
        "timezone": "UTC",
        "enable_utc": True,
        NAMESPACE_CONF: namespace,
    }
    if settings.broker.startswith("redis://"):
        from taskqueue.redis_transport import TRANSPORT

        config["broker_transport"] = TRANSPORT
    if namespace:
        # Control (ping, inspect) and event exchanges too, so workers of another stack on the same vhost
        # neither answer this one's pings nor show up in its Flower.
        config["control_exchange"] = f"{namespace}.celery"
        config["event_exchange"] = f"{namespace}.celeryev"
    return config


def make_celery(settings: Settings | None = None) -> Celery:
    """A Celery app that can publish every catalogue job by name (no task functions registered)."""
    app = Celery("billecta_sync")
    app.conf.update(celery_config(settings or get_settings()))
    return app


class CeleryTaskQueue:
    """``billecta_sync.queueing.TaskQueue`` on a Celery app."""

    def __init__(self, celery: Celery, namespace: str | None = None) -> None:
        self.celery = celery
        # Callers name catalogue queues; the broker's names may carry BROKER_NAMESPACE (an app built by
        # make_celery knows it; a stand-in without a configuration has none).
        if namespace is None:
            conf = getattr(celery, "conf", None)
            namespace = str(conf.get(NAMESPACE_CONF) or "") if conf is not None else ""
        self.namespace = namespace

    def publish(self, task_name: str, args: list[Any], queue: str, *, want_result: bool = False,
                **options: Any) -> str:
        # Without want_result nobody reads the result, so do not subscribe to its channel; with it the
        # subscription happens before the message is sent, so a fast answer cannot be missed.
        # The correlation id of the request or task publishing this one travels in the message headers
        # (``headers`` adds more), so the worker's log lines can be followed back to the webhook or command.
        headers = dict(options.get("headers") or {})
        if logs.TASK_HEADER not in headers and (current := logs.correlation_id()):
            headers[logs.TASK_HEADER] = current
        # When it was queued, so the operator console can show how long the oldest message of a queue waits.
        headers.setdefault(PUBLISHED_AT_HEADER, round(time.time(), 3))
        result = self.celery.send_task(
            task_name, args=list(args), kwargs=options.get("kwargs") or {}, queue=broker_queue(queue, self.namespace),
            ignore_result=not want_result, retry=True, retry_policy=PUBLISH_RETRY_POLICY,
            headers=headers,
        )
        return str(result.id)

    def wait(self, task_id: str, timeout: float) -> Any | None:
        result = self.celery.AsyncResult(task_id)
        try:
            # propagate=False: the task's own exception comes back as the value, so it cannot be taken
            # for a broker error even when it is a ConnectionError (Lime unreachable, say).
            value = result.get(timeout=timeout, propagate=False)
            failed = result.failed()
        except CeleryTimeoutError:
            return None
        except (redis.RedisError, KombuOperationalError, OSError) as exc:
            # The result store is unreachable: the task may still run, so this is "no answer yet".
            log.warning("could not read the result of task %s: %s", task_id, type(exc).__name__)
            return None
        finally:
            self._forget_pending(result)
        if failed:
            raise TaskFailed(str(value) or type(value).__name__)
        return value

    def alive_task_ids(self, timeout_s: float = 5.0) -> set[str]:
        """Ids of tasks some worker holds now (running, reserved or waiting for a retry countdown)."""
        inspect = self.celery.control.inspect(timeout=timeout_s)
        alive: set[str] = set()
        for method in (inspect.active, inspect.reserved, inspect.scheduled):
            for entries in (method() or {}).values():
                for entry in entries:
                    request = entry.get("request", entry)
                    if request.get("id"):
                        alive.add(request["id"])
        return alive

    @staticmethod
    def _forget_pending(result: Any) -> None:
        # get() registers the result with the backend and keeps a subscription open until the object
        # is collected; a long-running gateway drops both now, or each timed-out wait would leak them.
        try:
            result.backend.remove_pending_result(result)
        except Exception as exc:  # cleanup only; the broker may be the thing that is down
            log.debug("could not drop the result subscription of %s: %s", result.id, type(exc).__name__)
