"""The gateway with its real Celery publisher on Redis: messages land in the queues' Redis lists."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from sqlalchemy import select

from billecta_sync import catalogue, inbox, logs
from billecta_sync.db import InboxStatus, MonitorBatch, WebhookInbox
from webhook_gateway.publisher import CLIENT_NAME, GatewayPublisher

PREFIX = "/limepkg-billecta-integration"
WEBHOOK = {"X-API-Key": "dev-webhook-key"}
COMMANDS = {"X-API-Key": "dev-commands-key"}
OPERATOR = {"X-API-Key": "dev-operator-key"}
EVENT = {"WebhookTriggerType": "InvoicePaymentReceived", "ActionPublicId": "inv-42"}
FILTER = {"key": "_id", "op": "IN", "exp": [7, 8]}


def queued_messages(client: redis.Redis, queue: str) -> list[dict[str, Any]]:
    """The Celery messages waiting in ``queue``, oldest first, with the body decoded."""
    messages = []
    for raw in reversed(client.lrange(queue, 0, -1)):  # Celery LPUSHes and workers BRPOP
        message = json.loads(raw)
        message["decoded_body"] = json.loads(base64.b64decode(message["body"]))
        messages.append(message)
    return messages


def closed_port_url() -> str:
    with socket.socket() as sock:  # a port nobody listens on: bound, never listening, then released
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def test_webhook_message_lands_in_the_webhooks_list(redis_client: redis.Redis,
                                                    make_gateway: Callable[..., Any]) -> None:
    app, db = make_gateway()
    resp = app.test_client().post(f"{PREFIX}/billecta-webhook-receiver", json=EVENT, headers=WEBHOOK)

    assert resp.status_code == 200
    inbox_id = resp.get_json()["inbox_id"]
    assert resp.get_json() == {"status": "queued", "inbox_id": inbox_id}
    messages = queued_messages(redis_client, catalogue.QUEUE_WEBHOOKS)
    assert len(messages) == 1
    assert messages[0]["headers"]["task"] == catalogue.PROCESS_BILLECTA_WEBHOOK.name
    args, kwargs, _embed = messages[0]["decoded_body"]
    assert args == [inbox_id]
    assert kwargs == {}
    assert redis_client.llen(catalogue.QUEUE_INTERACTIVE) == 0
    with db.session() as session:
        assert session.get(WebhookInbox, inbox_id).status == InboxStatus.QUEUED  # type: ignore[union-attr]


def test_broker_down_answers_received_and_keeps_the_row(make_gateway: Callable[..., Any]) -> None:
    app, db = make_gateway(REDIS_URL=closed_port_url())
    started = time.monotonic()
    resp = app.test_client().post(f"{PREFIX}/billecta-webhook-receiver", json=EVENT, headers=WEBHOOK)
    elapsed = time.monotonic() - started

    assert resp.status_code == 200
    inbox_id = resp.get_json()["inbox_id"]
    assert resp.get_json() == {"status": "received", "inbox_id": inbox_id}
    assert elapsed < 10, f"a dead broker held the webhook answer for {elapsed:.1f} s"
    with db.session() as session:
        row = session.get(WebhookInbox, inbox_id)
        assert row is not None
        assert row.status == InboxStatus.RECEIVED
        assert json.loads(row.body) == EVENT


def test_readyz_against_real_redis(redis_client: redis.Redis, make_gateway: Callable[..., Any]) -> None:
    app, _ = make_gateway()
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 200
    assert resp.get_json()["checks"] == {"database": "ok", "redis": "ok"}

    down, _ = make_gateway(REDIS_URL=closed_port_url())
    resp = down.test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json()["checks"] == {"database": "ok", "redis": "failed"}


def _answer_start_batch(redis_client: redis.Redis, backend: Any, outcome: Any, stop: threading.Event) -> None:
    """Act as the worker: wait for the START_BATCH message and store ``outcome`` as its result."""
    while not stop.is_set():
        messages = queued_messages(redis_client, catalogue.QUEUE_INTERACTIVE)
        if messages:
            task_id = messages[0]["headers"]["id"]
            batch_id = messages[0]["decoded_body"][0][0]
            if isinstance(outcome, BaseException):
                backend.mark_as_failure(task_id, outcome)
            else:
                backend.mark_as_done(task_id, {"batch_id": batch_id, **outcome})
            return
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("outcome", "status"),
    [({"total": 2}, 200), (RuntimeError("Lime is unreachable"), 502), (None, 202)],
)
def test_command_waits_for_the_start_task(redis_client: redis.Redis, make_gateway: Callable[..., Any],
                                          outcome: Any, status: int) -> None:
    app, db = make_gateway(GATEWAY_COMMAND_WAIT_S="3" if outcome is not None else "0.5")
    publisher = app.extensions["billecta_sync"].publisher
    stop = threading.Event()
    worker = threading.Thread(target=_answer_start_batch,
                              args=(redis_client, publisher.celery.backend, outcome, stop), daemon=True)
    if outcome is not None:
        worker.start()
    try:
        resp = app.test_client().post(f"{PREFIX}/task/upsert-attest-orders-in-billecta",
                                      json={"query_filter": FILTER}, headers=COMMANDS)
    finally:
        stop.set()
        if worker.is_alive():
            worker.join(5)

    with db.session() as session:
        batch_ids = list(session.scalars(select(MonitorBatch.id)))
    assert len(batch_ids) == 1
    batch_id = batch_ids[0]
    assert resp.status_code == status
    body = resp.get_json()
    assert body["integration_monitor_batch_id"] == batch_id
    if status == 200:
        assert body == {"integration_monitor_batch_id": batch_id, "status": "running", "total": 2}
    elif status == 502:
        assert body["error"] == "start_failed"
        assert "Lime is unreachable" in body["message"]
    else:
        assert body == {"integration_monitor_batch_id": batch_id, "status": "queued"}
        messages = queued_messages(redis_client, catalogue.QUEUE_INTERACTIVE)
        assert [(m["headers"]["task"], m["decoded_body"][0]) for m in messages] == [
            (catalogue.START_BATCH.name, [batch_id])
        ]


def test_replay_publishes_dead_rows_to_redis(redis_client: redis.Redis, make_gateway: Callable[..., Any]) -> None:
    app, db = make_gateway()
    dead = inbox.record(db, "billecta", {}, json.dumps(EVENT).encode(), event_type="InvoicePaymentReceived",
                        status=InboxStatus.DEAD)
    resp = app.test_client().post(f"{PREFIX}/operator/inbox/replay", json={"status": "dead"}, headers=OPERATOR)
    assert resp.status_code == 200
    assert resp.get_json()["ids"] == [dead]
    messages = queued_messages(redis_client, catalogue.QUEUE_WEBHOOKS)
    assert [(m["headers"]["task"], m["decoded_body"][0]) for m in messages] == [
        (catalogue.PROCESS_BILLECTA_WEBHOOK.name, [dead])
    ]


def _per_message_fields_blanked(message: dict[str, Any]) -> dict[str, Any]:
    """The message with what differs between any two messages (ids, the queueing time) blanked."""
    blanked = json.loads(json.dumps(message))
    for key in ("id", "root_id", "x_published_at"):
        blanked["headers"][key] = "*"
    for key in ("correlation_id", "delivery_tag"):
        blanked["properties"][key] = "*"
    blanked.pop("body")  # compared decoded
    return blanked


@pytest.mark.parametrize("correlation", ["cid-compare", "", 'räkning "7"\n'])
def test_the_gateway_writes_exactly_the_message_celery_would(redis_client: redis.Redis,
                                                            make_gateway: Callable[..., Any], correlation: str) -> None:
    # The direct message is a template filled per webhook: with and without a correlation id, and with one
    # that JSON must escape.
    app, _ = make_gateway()
    publisher = app.extensions["billecta_sync"].publisher
    assert isinstance(publisher, GatewayPublisher)
    assert publisher.client is not None, "the gateway should publish webhook jobs directly on this broker"
    job = catalogue.PROCESS_BILLECTA_WEBHOOK
    logs.bind(correlation_id=correlation)
    try:
        celery_id = publisher.queue.publish(job.name, [5], job.queue)  # built by Celery and kombu
        direct_id = publisher.publish(job.name, [5], job.queue)
    finally:
        logs.clear()

    by_celery, direct = queued_messages(redis_client, job.queue)
    assert (by_celery["headers"]["id"], direct["headers"]["id"]) == (celery_id, direct_id)
    assert _per_message_fields_blanked(direct) == _per_message_fields_blanked(by_celery)
    assert list(direct["headers"]) == list(by_celery["headers"])  # in Celery's order, too
    assert direct["decoded_body"] == by_celery["decoded_body"]
    assert direct["properties"]["correlation_id"] == direct_id == direct["headers"]["root_id"]
    assert direct["headers"].get(logs.TASK_HEADER) == (correlation or None)


def test_a_webhook_is_published_again_after_redis_dropped_the_connection(redis_client: redis.Redis,
                                                                        make_gateway: Callable[..., Any]) -> None:
    app, _ = make_gateway()
    client = app.test_client()
    first = client.post(f"{PREFIX}/billecta-webhook-receiver", json=EVENT, headers=WEBHOOK)
    assert first.get_json()["status"] == "queued"
    db = redis_client.connection_pool.connection_kwargs.get("db", 0)
    gateway_ids = [c["id"] for c in redis_client.client_list()
                   if c.get("name") == CLIENT_NAME and int(c.get("db", -1)) == db]
    assert gateway_ids
    for client_id in gateway_ids:  # as a Redis restart or an idle timeout would
        redis_client.client_kill_filter(_id=client_id)
    second = client.post(f"{PREFIX}/billecta-webhook-receiver", json=EVENT, headers=WEBHOOK)
    assert second.get_json()["status"] == "queued"
    assert [m["decoded_body"][0] for m in queued_messages(redis_client, catalogue.QUEUE_WEBHOOKS)] == [
        [first.get_json()["inbox_id"]], [second.get_json()["inbox_id"]]]
