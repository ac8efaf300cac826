"""Publishing tasks by name, behind a two-method interface the routes depend on.

The routes only need "put this on a queue" and "wait a little for that answer", so tests can pass a
recording fake while production uses Celery on Redis.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import redis
from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeoutError
from kombu.exceptions import OperationalError as KombuOperationalError

log = logging.getLogger("webhook_gateway.publisher")

# A webhook answer must not hang on a dead broker: Billecta waits on us and retries anyway.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


class TaskFailed(Exception):
    """The task ran and reported an error; the message is the task's own."""


class Publisher(Protocol):
    def publish(self, task_name: str, args: list[Any], queue: str, *, want_result: bool = False) -> str:
        """Put one task on ``queue``; return its id. Raises when the broker cannot take it."""
        ...

    def wait(self, task_id: str, timeout: float) -> Any | None:
        """The task's return value, or ``None`` when it is not there within ``timeout`` seconds.

        Raises ``TaskFailed`` when the task itself failed.
        """
        ...


class CeleryPublisher:
    """Publishes through a publisher-only Celery app (see ``workers.celery_app.make_celery``)."""

    def __init__(self, celery: Celery) -> None:
        self.celery = celery

    def publish(self, task_name: str, args: list[Any], queue: str, *, want_result: bool = False) -> str:
        # Without want_result nobody reads the result, so do not subscribe to its channel; with it the
        # subscription happens before the message is sent, so a fast answer cannot be missed.
        result = self.celery.send_task(
            task_name, args=list(args), queue=queue, ignore_result=not want_result,
            retry=True, retry_policy=PUBLISH_RETRY_POLICY,
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

    @staticmethod
    def _forget_pending(result: Any) -> None:
        # get() registers the result with the backend and keeps a subscription open until the object
        # is collected; a long-running gateway drops both now, or each timed-out wait would leak them.
        try:
            result.backend.remove_pending_result(result)
        except Exception as exc:  # cleanup only; the broker may be the thing that is down
            log.debug("could not drop the result subscription of %s: %s", result.id, type(exc).__name__)
