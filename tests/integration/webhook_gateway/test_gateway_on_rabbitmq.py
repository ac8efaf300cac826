"""The gateway on RabbitMQ: the console's queue depths (a passive declare, under the stack's namespace) and
the readiness probe's broker check."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from webhook_gateway.console.views import queue_depths

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"


def rabbitmq_answers() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not rabbitmq_answers(), reason="no RabbitMQ at 127.0.0.1:5672")
def test_queue_depths_count_the_messages_waiting_in_rabbitmq() -> None:
    from kombu import Connection, Exchange, Producer, Queue

    namespace = f"depths-{uuid.uuid4().hex[:8]}"
    # Confirmed publishes: each has reached the queue when publish returns, so the count below cannot race them.
    with Connection(AMQP_URL, transport_options={"confirm_publish": True}) as conn:
        channel = conn.channel()
        queue = Queue(f"{namespace}.webhooks", Exchange(f"{namespace}.webhooks"), f"{namespace}.webhooks",
                      auto_delete=False)
        queue(channel).declare()
        producer = Producer(channel)
        for n in range(3):
            producer.publish({"n": n}, exchange=queue.exchange, routing_key=queue.routing_key, declare=[queue])
        try:
            depths = {e["queue"]: e for e in queue_depths(None, namespace, AMQP_URL)}
        finally:
            queue(channel).delete()
            channel.close()

    assert depths["webhooks"]["waiting"] == 3 and depths["webhooks"]["error"] == ""
    # A queue no worker has declared yet is named as such, not shown as empty.
    assert depths["bulk"]["waiting"] is None and depths["bulk"]["error"]


@pytest.mark.skipif(not rabbitmq_answers(), reason="no RabbitMQ at 127.0.0.1:5672")
def test_readyz_checks_rabbitmq_when_it_is_the_broker(make_gateway: Callable[..., Any]) -> None:
    app, _ = make_gateway(BROKER_URL=AMQP_URL)
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 200 and resp.get_json()["checks"]["broker"] == "ok"

    down, _ = make_gateway(BROKER_URL="amqp://guest:guest@127.0.0.1:1//")
    resp = down.test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json()["checks"] == {"database": "ok", "redis": "ok", "broker": "failed"}
