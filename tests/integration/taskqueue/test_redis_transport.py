"""The Redis transport: Celery's messages land on the queue as before, at the cost of no client object per
message, and only plain ``redis://`` brokers get it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from billecta_sync import catalogue
from taskqueue import CeleryTaskQueue, celery_config, make_celery
from taskqueue.redis_transport import TRANSPORT, Channel
from tests.redis_support import emptied_redis, redis_db_url
from tests.unit.fakes import settings_for

REDIS_URL = redis_db_url(13)


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    with emptied_redis(REDIS_URL, "TEST_REDIS_URL") as client:
        yield client


def test_only_a_plain_redis_broker_gets_the_transport(tmp_path: Path) -> None:
    assert celery_config(settings_for(tmp_path, REDIS_URL="redis://127.0.0.1:6379/0"))["broker_transport"] == TRANSPORT
    # TLS keeps kombu's own (its scheme switches SSL on), RabbitMQ has its own transport.
    assert "broker_transport" not in celery_config(settings_for(tmp_path, REDIS_URL="rediss://cache.internal:6380/0"))
    assert "broker_transport" not in celery_config(settings_for(tmp_path, BROKER_URL="amqp://svc:pw@rabbit:5672/x"))


def test_published_jobs_arrive_and_the_channel_builds_its_client_once(tmp_path: Path, redis_client: redis.Redis,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_celery(settings_for(tmp_path, REDIS_URL=REDIS_URL))
    queue = CeleryTaskQueue(app)
    job = catalogue.inbound_job("billecta")
    queue.publish(job.name, [1], job.queue)  # the first builds the channel and its client

    built: list[int] = []
    original = redis.Redis.__init__

    def counting(self: redis.Redis, *args: Any, **kwargs: Any) -> None:
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "__init__", counting)
    for inbox_id in (2, 3, 4):
        queue.publish(job.name, [inbox_id], job.queue)

    assert built == []  # kombu's own Channel built a client for each of these three
    waiting = [json.loads(raw) for raw in redis_client.lrange(job.queue, 0, -1)]
    assert sorted(json.loads(base64.b64decode(m["body"]))[0] for m in waiting) == [[1], [2], [3], [4]]
    assert {m["headers"]["task"] for m in waiting} == {job.name}


def test_a_closed_channel_does_not_hand_out_the_old_pool(tmp_path: Path, redis_client: redis.Redis) -> None:
    app = make_celery(settings_for(tmp_path, REDIS_URL=REDIS_URL))
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        assert isinstance(channel, Channel)
        first = channel._create_client()
        assert channel._create_client() is first
        channel._pool = None  # what closing the channel does; the next use builds a new pool
        second = channel._create_client()
        assert second is not first and second.connection_pool is channel.pool
        assert second.ping()
