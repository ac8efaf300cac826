"""The Celery brokers the end-to-end tests run on: the stack's Redis, and RabbitMQ when one answers.

RabbitMQ is looked for at ``TEST_RABBITMQ_URL`` (default ``amqp://guest:guest@127.0.0.1:5672//``, as on this
machine and in CI); a test parametrized with it is skipped, saying so, when nothing answers there. Each
stack gets a ``BROKER_NAMESPACE`` of its own, so stacks of parallel runs sharing the vhost never take each
other's tasks, and drops its queues when it stops.
"""

from __future__ import annotations

import os
import uuid
from functools import cache
from typing import Any

import pytest

from billecta_sync.settings import without_password
from devstack.stack import Stack, broker_answers

RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
BROKERS = ("redis", "rabbitmq")


@cache
def rabbitmq_answers() -> bool:
    return broker_answers(RABBITMQ_URL)


def stack_options(broker: str) -> dict[str, Any]:
    """StackConfig fields for ``broker``; skips the test when it is RabbitMQ and none answers."""
    if broker == "redis":
        return {}
    if not rabbitmq_answers():
        pytest.skip(f"RabbitMQ does not answer at {without_password(RABBITMQ_URL)} (set TEST_RABBITMQ_URL)")
    return {"broker_url": RABBITMQ_URL, "broker_namespace": f"t{uuid.uuid4().hex[:12]}"}


def stop(stack: Stack) -> None:
    stack.stop()
    stack.drop_broker_namespace()
