"""Fixtures for the gateway's unit tests: a real SQLite file, a recording publisher, the test client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from flask import Flask
from flask.testing import FlaskClient

from billecta_sync.db import Database, upgrade
from billecta_sync.settings import Settings, load_settings

WEBHOOK_KEY = "dev-webhook-key"
COMMANDS_KEY = "dev-commands-key"
OPERATOR_KEY = "dev-operator-key"


def base_env(tmp_path: Path) -> dict[str, str]:
    return {
        "BILLECTA_SYNC_ENV": "development",  # the development keys and http:// sandbox URLs below
        "BILLECTA_API_BASE_URL": "http://127.0.0.1:8100/v1",
        "BILLECTA_API_AUTHENTICATION": "SecureToken ZGV2LWJpbGxlY3RhLXRva2Vu",
        "LIME_BASE_URL": "http://127.0.0.1:8200/lime/api/v1/",
        "LIME_API_KEY": "dev-lime-key",
        "GATEWAY_API_KEYS_WEBHOOK": WEBHOOK_KEY,
        "GATEWAY_API_KEYS_COMMANDS": COMMANDS_KEY,
        "GATEWAY_API_KEYS_OPERATOR": OPERATOR_KEY,
        "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        # Unit tests never reach Redis: the publisher is a fake and readiness gets an injected client.
        "REDIS_URL": "redis://127.0.0.1:1/0",
    }


@dataclass
class Published:
    task: str
    args: list[Any]
    queue: str
    want_result: bool
    task_id: str


@dataclass
class RecordingPublisher:
    """Stands in for Celery: records what would be published and answers waits as told."""

    fail: bool = False
    wait_result: Any = None
    wait_error: BaseException | None = None
    published: list[Published] = field(default_factory=list)
    waits: list[tuple[str, float]] = field(default_factory=list)

    def publish(self, task_name: str, args: list[Any], queue: str, *, want_result: bool = False) -> str:
        if self.fail:
            raise ConnectionError("broker down")
        task_id = f"task-{len(self.published) + 1}"
        self.published.append(Published(task_name, list(args), queue, want_result, task_id))
        return task_id

    def wait(self, task_id: str, timeout: float) -> Any | None:
        self.waits.append((task_id, timeout))
        if self.wait_error is not None:
            raise self.wait_error
        return self.wait_result


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: str) -> Settings:
        return load_settings(env={**base_env(tmp_path), **overrides})

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    upgrade(settings.database_url)
    database = Database(settings.database_url)
    yield database
    database.dispose()


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def make_app(db: Database, publisher: RecordingPublisher) -> Callable[..., Flask]:
    def make(settings: Settings, **kwargs: Any) -> Flask:
        from webhook_gateway import create_app

        kwargs.setdefault("db", db)
        kwargs.setdefault("publisher", publisher)
        kwargs.setdefault("redis_client", fakeredis.FakeRedis())
        app = create_app(settings, **kwargs)
        app.testing = True
        return app

    return make


@pytest.fixture
def app(make_app: Callable[..., Flask], settings: Settings) -> Flask:
    return make_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
