"""Celery's consumer, made to survive a lost broker connection on the thread pool, and sending task events in
batches.

On prefork every acknowledgement goes through the worker's one event-loop thread. On the thread pool the task
threads acknowledge (``acks_late``) on the consumer's channel themselves, so when Redis goes away kombu's Redis
channel can be torn down by the consumer thread while a task thread is inside it; closing the broken
connection then fails with an ``AttributeError`` (the channel's connection details are already gone) and
Celery ends the worker ("Unrecoverable error"). Here that failure ends only the broken connection: the
consumer reconnects as after any connection loss, and the messages that could not be handed back at once
return after the visibility timeout (their tasks are idempotent, like every redelivery).

Task events (what Flower shows) are sent every ``EVENT_BATCH_S`` by the event loop's thread, in one publish.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.concurrency.thread import TaskPool as ThreadPool
from celery.worker.consumer import Consumer as CeleryConsumer

log = logging.getLogger("billecta_sync.tasks")


#: how long a task event waits to be sent with the others of that moment (Flower shows it this much later)
EVENT_BATCH_S = 0.2
#: events a dispatcher holds before the thread adding one sends them all itself; far more than come in
#: EVENT_BATCH_S, so only the event loop's thread sends
EVENT_BUFFER_LIMIT = 10_000


class Consumer(CeleryConsumer):  # type: ignore[misc]
    _event_dispatcher: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._events_due = False
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

    @property
    def event_dispatcher(self) -> Any:
        return self._event_dispatcher

    @event_dispatcher.setter
    def event_dispatcher(self, dispatcher: Any) -> None:
        # Set by Celery's Events step. Celery lets the task thread that fills the buffer (24 events) send it:
        # beside the loop's own sends on the same connection, that publish waited forever for RabbitMQ's
        # confirmation and, holding the dispatcher's lock, stalled every task thread of the worker.
        if dispatcher is not None:
            dispatcher.buffer_limit = EVENT_BUFFER_LIMIT
        self._event_dispatcher = dispatcher

    def on_send_event_buffered(self) -> None:
        # Celery sends the buffered task events on the loop's next turn, so each task's received, started and
        # succeeded events went out nearly one by one, a publish (and from a pool thread a wake-up of the loop)
        # each: about a tenth of a thread-pool worker's interpreter time. Sent together every EVENT_BATCH_S
        # instead, by the loop's thread. A race between two task threads schedules one send too many, which
        # finds less to send.
        if self.hub is not None and not self._events_due:
            self._events_due = True
            self.hub.call_soon(self._send_events_later)  # the timer belongs to the loop's thread

    def _send_events_later(self) -> None:
        self.hub.call_later(EVENT_BATCH_S, self._send_events)

    def _send_events(self) -> None:
        self._events_due = False
        self._flush_events()
