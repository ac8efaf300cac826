"""kombu's Redis transport with one client object per channel for its plain commands.

kombu builds a new ``redis.Redis`` for every publish, acknowledgement and Celery event (``_create_client``),
and redis-py's constructor rebuilds its table of response callbacks each time: in a thread-pool worker
this was about a tenth of the interpreter time of a task. A ``redis.Redis`` holds no connection of its own
(each command borrows one from the channel's pool), so one per channel does the same work; the consuming
client (BRPOP on the event loop) is still made as kombu makes it.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis

#: Celery's ``broker_transport`` for a ``redis://`` broker
TRANSPORT = "taskqueue.redis_transport:Transport"


class Channel(kombu_redis.Channel):  # type: ignore[misc]  # kombu has no type hints
    _plain_client: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)
        client = self._plain_client
        # A closed channel drops its pool; a client of the old pool must not outlive it.
        if client is None or client.connection_pool is not self.pool:
            client = self._plain_client = super()._create_client()
        return client


class Transport(kombu_redis.Transport):  # type: ignore[misc]
    Channel = Channel
