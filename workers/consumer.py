"""Celery's consumer, made to survive a lost broker connection on the thread pool.

On prefork every acknowledgement goes through the worker's one event-loop thread. On the thread pool the task
threads acknowledge (``acks_late``) on the consumer's channel themselves, so when Redis goes away kombu's Redis
channel can be torn down by the consumer thread while a task thread is inside it; closing the broken
connection then fails with an ``AttributeError`` (the channel's connection details are already gone) and
Celery ends the worker ("Unrecoverable error"). Here that failure ends only the broken connection: the
consumer reconnects as after any connection loss, and the messages that could not be handed back at once
return after the visibility timeout (their tasks are idempotent, like every redelivery).
"""

from __future__ import annotations

import logging
from typing import Any

from celery.concurrency.thread import TaskPool as ThreadPool
from celery.worker.consumer import Consumer as CeleryConsumer

log = logging.getLogger("billecta_sync.tasks")


class Consumer(CeleryConsumer):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if isinstance(self.pool, ThreadPool):
            # The acknowledgement of a task that finished after its connection was lost goes to that dead
            # channel, which fails with AttributeError: logged as "Couldn't ack" like any broker error (the task
            # comes back after the visibility timeout) instead of ending the worker; in the consumer loop it
            # counts as a connection loss. Prefork never acknowledges on a dead channel, so it is left as it is.
            self.connection_errors = (*self.connection_errors, AttributeError)

    def on_connection_error_after_connected(self, exc: Exception) -> None:
        try:
            super().on_connection_error_after_connected(exc)
        except AttributeError as error:
            log.warning("the lost broker connection could not be closed cleanly (%s); reconnecting anyway: "
                        "unacknowledged tasks come back after the visibility timeout", error)
            self.connection: Any = None
