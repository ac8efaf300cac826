"""The gateway's publisher: webhook jobs straight onto the Redis list, everything else through Celery."""

from __future__ import annotations

import base64
import json
import random
import socket
import uuid
from dataclasses import dataclass, field
from typing import Any

import fakeredis
import pytest
import redis
from celery import Celery, signals

import webhook_gateway.publisher as publisher_module
from billecta_sync import catalogue, logs
from billecta_sync.settings import Settings
from taskqueue import PUBLISHED_AT_HEADER, make_celery
from webhook_gateway.publisher import GatewayPublisher, direct_publish_problem


@dataclass
class CeleryQueueStub:
    """Stands in for CeleryTaskQueue: a real (publisher-only) Celery app, publishes recorded, not sent."""

    celery: Celery
    namespace: str = ""
    calls: list[tuple[str, list[Any], str, bool, dict[str, Any]]] = field(default_factory=list)

    def publish(self, task_name: str, args: list[Any], queue: str, *, want_result: bool = False,
                **options: Any) -> str:
        self.calls.append((task_name, list(args), queue, want_result, options))
        return "celery-task-id"

    def wait(self, task_id: str, timeout: float) -> Any | None:
        return None


@pytest.fixture
def celery_app(settings: Settings) -> Celery:
    return make_celery(settings)


def waiting(client: redis.Redis, queue: str) -> list[dict[str, Any]]:
    messages = []
    for raw in reversed(client.lrange(queue, 0, -1)):  # LPUSHed, so the oldest is last
        message = json.loads(raw)
        message["decoded_body"] = json.loads(base64.b64decode(message["body"]))
        messages.append(message)
    return messages


def test_a_webhook_job_lands_in_its_queue_as_a_celery_message(celery_app: Celery) -> None:
    client = fakeredis.FakeRedis()
    stub = CeleryQueueStub(celery_app)
    publisher = GatewayPublisher(stub, client=client)  # type: ignore[arg-type]
    job = catalogue.PROCESS_BILLECTA_WEBHOOK
    logs.bind(correlation_id="cid-42")
    try:
        task_id = publisher.publish(job.name, [7], job.queue)
    finally:
        logs.clear()

    assert stub.calls == []  # nothing went through Celery
    [message] = waiting(client, job.queue)
    headers, properties = message["headers"], message["properties"]
    assert (headers["task"], headers["id"], headers["root_id"], headers["argsrepr"]) == (job.name, task_id, task_id,
                                                                                         "[7]")
    assert headers["ignore_result"] is True
    assert headers[logs.TASK_HEADER] == "cid-42"
    assert isinstance(headers[PUBLISHED_AT_HEADER], float)
    assert message["decoded_body"] == [[7], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]
    assert properties["correlation_id"] == task_id
    assert properties["delivery_info"] == {"exchange": "", "routing_key": job.queue}
    assert (properties["delivery_mode"], properties["priority"], properties["body_encoding"]) == (2, 0, "base64")
    assert message["content-type"] == "application/json"


def test_every_message_gets_its_own_ids(celery_app: Celery) -> None:
    client = fakeredis.FakeRedis()
    publisher = GatewayPublisher(CeleryQueueStub(celery_app), client=client)  # type: ignore[arg-type]
    ids = {publisher.publish(catalogue.PROCESS_LIME_WEBHOOK.name, [n], catalogue.QUEUE_WEBHOOKS) for n in range(50)}
    messages = waiting(client, catalogue.QUEUE_WEBHOOKS)
    assert len(ids) == 50
    assert len({m["properties"]["delivery_tag"] for m in messages}) == 50
    assert [m["decoded_body"][0] for m in messages] == [[n] for n in range(50)]


def test_the_broker_namespace_names_the_list(celery_app: Celery) -> None:
    client = fakeredis.FakeRedis()
    publisher = GatewayPublisher(CeleryQueueStub(celery_app, namespace="stack-b"), client=client)  # type: ignore[arg-type]
    publisher.publish(catalogue.PROCESS_BILLECTA_WEBHOOK.name, [1], catalogue.QUEUE_WEBHOOKS)
    [message] = waiting(client, f"stack-b.{catalogue.QUEUE_WEBHOOKS}")
    assert message["properties"]["delivery_info"]["routing_key"] == f"stack-b.{catalogue.QUEUE_WEBHOOKS}"
    assert client.llen(catalogue.QUEUE_WEBHOOKS) == 0


@pytest.mark.parametrize(
    ("args", "options"),
    [
        ([1], {"want_result": True}),  # someone waits for the answer: Celery subscribes to the result first
        ([1], {"kwargs": {"attest": True}}),
        (["not-an-id"], {}),
    ],
)
def test_anything_but_a_fire_and_forget_job_of_ids_goes_through_celery(celery_app: Celery, args: list[Any],
                                                                       options: dict[str, Any]) -> None:
    client = fakeredis.FakeRedis()
    stub = CeleryQueueStub(celery_app)
    publisher = GatewayPublisher(stub, client=client)  # type: ignore[arg-type]
    assert publisher.publish("billecta_sync.some_job", args, catalogue.QUEUE_INTERACTIVE, **options) == "celery-task-id"
    assert len(stub.calls) == 1
    assert client.llen(catalogue.QUEUE_INTERACTIVE) == 0


@pytest.mark.parametrize(
    ("conf", "reason"),
    [
        ({"broker_url": "amqp://guest:guest@rabbit:5672//"}, "not a plain Redis URL"),
        ({"broker_transport_options": {"global_keyprefix": "x:"}}, "global_keyprefix"),
        ({"task_serializer": "pickle"}, "serializer"),
        ({"task_default_priority": 5}, "priority"),
    ],
)
def test_a_broker_setup_the_message_depends_on_sends_everything_through_celery(
        celery_app: Celery, conf: dict[str, Any], reason: str) -> None:
    celery_app.conf.update(conf)
    assert reason in direct_publish_problem(celery_app)
    stub = CeleryQueueStub(celery_app)
    publisher = GatewayPublisher(stub)  # type: ignore[arg-type]
    publisher.publish(catalogue.PROCESS_BILLECTA_WEBHOOK.name, [1], catalogue.QUEUE_WEBHOOKS)
    assert len(stub.calls) == 1


def test_the_default_configuration_publishes_directly(celery_app: Celery) -> None:
    assert direct_publish_problem(celery_app) == ""


class _ClosedOnce:
    """A Redis connection whose socket the server closed: the first command fails as such a socket does; once
    disconnected, the next command connects again (as redis-py's connections do)."""

    def __init__(self, real: Any) -> None:
        self.real, self.failed, self.disconnected = real, False, False

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if not self.failed:
            self.failed = True
            raise redis.ConnectionError("Connection closed by server.")
        self.real.send_packed_command(command, check_health=check_health)

    def read_response(self) -> Any:
        return self.real.read_response()

    def disconnect(self) -> None:
        self.disconnected = True


def test_a_connection_redis_closed_is_reconnected_and_the_push_made_once(celery_app: Celery,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    client = fakeredis.FakeRedis()
    publisher = GatewayPublisher(CeleryQueueStub(celery_app), client=client)  # type: ignore[arg-type]
    made: list[_ClosedOnce] = []
    real_make = client.connection_pool.make_connection

    def make() -> Any:
        made.append(_ClosedOnce(real_make()))
        return made[-1]

    monkeypatch.setattr(client.connection_pool, "make_connection", make)
    publisher.publish(catalogue.PROCESS_BILLECTA_WEBHOOK.name, [3], catalogue.QUEUE_WEBHOOKS)
    publisher.publish(catalogue.PROCESS_BILLECTA_WEBHOOK.name, [4], catalogue.QUEUE_WEBHOOKS)
    assert len(made) == 1 and made[0].disconnected  # the thread's connection is kept, its socket renewed
    monkeypatch.undo()  # the reading below uses the pool as it was
    assert [m["decoded_body"][0] for m in waiting(client, catalogue.QUEUE_WEBHOOKS)] == [[3], [4]]


def test_a_dead_broker_raises_so_the_row_stays_for_the_sweeper(celery_app: Celery,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    client = fakeredis.FakeRedis()
    publisher = GatewayPublisher(CeleryQueueStub(celery_app), client=client)  # type: ignore[arg-type]

    def refuse() -> Any:
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(client.connection_pool, "make_connection", lambda: _Refusing(refuse))
    with pytest.raises(redis.ConnectionError):
        publisher.publish(catalogue.PROCESS_BILLECTA_WEBHOOK.name, [3], catalogue.QUEUE_WEBHOOKS)


@dataclass
class _Refusing:
    refuse: Any

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        self.refuse()

    def read_response(self) -> Any:  # pragma: no cover - never reached
        return None

    def disconnect(self) -> None:
        pass


def test_a_broker_that_never_answers_fails_the_publish_instead_of_holding_the_webhook(
        celery_app: Celery, monkeypatch: pytest.MonkeyPatch) -> None:
    silent = socket.socket()  # accepts connections (the kernel does) and never says a word
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        monkeypatch.setattr(publisher_module, "_SOCKET_TIMEOUT_S", 0.2)
        celery_app.conf.broker_url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        publisher = GatewayPublisher(CeleryQueueStub(celery_app))  # type: ignore[arg-type]
        assert publisher.client is not None
        with pytest.raises(redis.ConnectionError):
            publisher.publish(catalogue.PROCESS_BILLECTA_WEBHOOK.name, [1], catalogue.QUEUE_WEBHOOKS)
    finally:
        silent.close()


def test_a_publish_signal_receiver_sees_every_message(celery_app: Celery) -> None:
    def receiver(**_kwargs: Any) -> None:
        pass

    stub = CeleryQueueStub(celery_app)
    publisher = GatewayPublisher(stub, client=fakeredis.FakeRedis())  # type: ignore[arg-type]
    signals.before_task_publish.connect(receiver)
    try:
        publisher.publish(catalogue.PROCESS_BILLECTA_WEBHOOK.name, [1], catalogue.QUEUE_WEBHOOKS)
    finally:
        signals.before_task_publish.disconnect(receiver)
    assert len(stub.calls) == 1  # through Celery, which sends the signal


def test_message_ids_are_the_version_4_uuids_uuid_would_make_of_the_same_bits() -> None:
    for seed in range(200):
        random.seed(seed)
        made = publisher_module._message_id()
        random.seed(seed)
        assert made == str(uuid.UUID(int=random.getrandbits(128), version=4))
        assert uuid.UUID(made).version == 4
