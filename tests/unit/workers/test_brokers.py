"""The broker settings: Redis by default, RabbitMQ through BROKER_URL with the same at-least-once delivery, and
BROKER_NAMESPACE on every name a publisher, a worker or beat uses at the broker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from beat_schedule import beat_schedule
from billecta_sync import catalogue
from billecta_sync.settings import ConfigError
from taskqueue import CeleryTaskQueue, broker_queues, celery_config, make_celery
from tests.unit.fakes import settings_for

AMQP = "amqp://svc:s3cret@rabbit.internal:5672/billecta"


def test_the_broker_is_redis_unless_told_otherwise(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    config = celery_config(settings)
    assert settings.broker == settings.redis_url == config["broker_url"]
    assert config["broker_transport_options"] == {"visibility_timeout": settings.worker.visibility_timeout_s,
                                                  "unacked_restore_interval": 10, "unacked_restore_throttle": 1}


@pytest.mark.parametrize(("timeout_s", "every_s"), [(3600, 10), (60, 6), (15, 1)])
def test_a_dead_workers_tasks_are_looked_for_every_tenth_of_the_visibility_timeout(
        tmp_path: Path, timeout_s: int, every_s: int) -> None:
    # kombu's default looks every 100 s: a task of a killed worker came back that long after its timeout.
    settings = settings_for(tmp_path, WORKER_VISIBILITY_TIMEOUT_S=str(timeout_s), WORKER_TASK_TIME_LIMIT_S="10",
                            WORKER_TASK_SOFT_TIME_LIMIT_S="8", WORKER_RETRY_BACKOFF_MAX_S="1")
    options = celery_config(settings)["broker_transport_options"]
    assert (options["unacked_restore_interval"], options["unacked_restore_throttle"]) == (every_s, 1)


def test_rabbitmq_keeps_the_at_least_once_settings_and_redis_for_results(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, BROKER_URL=AMQP)
    config = celery_config(settings)
    assert config["broker_url"] == AMQP
    assert config["result_backend"] == settings.redis_url  # the gateway waits on answers in Redis
    assert (config["task_acks_late"], config["task_reject_on_worker_lost"], config["worker_prefetch_multiplier"]) \
        == (True, True, 1)
    # No visibility timeout (RabbitMQ redelivers when the consumer goes), and confirmed publishes.
    assert config["broker_transport_options"] == {"confirm_publish": True}


@pytest.mark.parametrize("value", ["http://rabbit:5672", "rabbit:5672", "kafka://broker"])
def test_a_broker_url_of_another_kind_is_refused_without_its_password(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="BROKER_URL"):
        settings_for(tmp_path, BROKER_URL=value)
    with pytest.raises(ConfigError) as refused:
        settings_for(tmp_path, BROKER_URL="http://svc:s3cret@rabbit:5672")
    assert "s3cret" not in str(refused.value)


@pytest.mark.parametrize("value", ["has space", "a.b", "-leading", "x" * 41])
def test_a_namespace_that_is_not_a_plain_name_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="BROKER_NAMESPACE"):
        settings_for(tmp_path, BROKER_NAMESPACE=value)


def test_a_namespace_prefixes_queues_routes_and_the_control_and_event_exchanges(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, BROKER_URL=AMQP, BROKER_NAMESPACE="staging")
    config = celery_config(settings)
    assert [q.name for q in config["task_queues"]] == [f"staging.{q}" for q in catalogue.QUEUES]  # type: ignore[attr-defined]
    assert broker_queues(settings, [catalogue.QUEUE_WEBHOOKS]) == ["staging.webhooks"]
    routes: Any = config["task_routes"]
    assert {route["queue"] for route in routes.values()} <= {f"staging.{q}" for q in catalogue.QUEUES}
    assert (config["control_exchange"], config["event_exchange"]) == ("staging.celery", "staging.celeryev")
    assert {entry["options"]["queue"] for entry in beat_schedule(settings).values()} == {"staging.scheduled"}


def test_the_publisher_sends_catalogue_queues_to_the_namespaced_ones(tmp_path: Path) -> None:
    app = make_celery(settings_for(tmp_path, BROKER_NAMESPACE="staging"))
    sent: list[dict[str, Any]] = []

    class Sent:
        id = "task-1"

    def send_task(name: str, **options: Any) -> Sent:
        sent.append({"name": name, **options})
        return Sent()

    app.send_task = send_task  # type: ignore[method-assign]
    CeleryTaskQueue(app).publish("billecta_sync.webhooks.process_billecta_webhook", [7], catalogue.QUEUE_WEBHOOKS)
    assert sent[0]["queue"] == "staging.webhooks"
    assert sent[0]["args"] == [7]


def test_without_a_namespace_the_names_are_the_catalogues(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    assert broker_queues(settings) == list(catalogue.QUEUES)
    assert "control_exchange" not in celery_config(settings)
