"""Fixtures for the gateway against real Redis (database 14) and a real Celery publisher."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from billecta_sync.db import Database, upgrade
from billecta_sync.settings import Settings, load_settings
from tests.redis_support import emptied_redis

REDIS_URL = os.environ.get("TEST_GATEWAY_REDIS_URL", "redis://127.0.0.1:6379/14")


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    with emptied_redis(REDIS_URL, "TEST_GATEWAY_REDIS_URL") as client:
        yield client


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def make(**overrides: str) -> Settings:
        env = {
            "BILLECTA_SYNC_ENV": "development",  # the development keys and http:// sandbox URLs below
            "BILLECTA_API_BASE_URL": "http://127.0.0.1:8100/v1",
            "BILLECTA_API_AUTHENTICATION": "SecureToken ZGV2LWJpbGxlY3RhLXRva2Vu",
            "LIME_BASE_URL": "http://127.0.0.1:8200/lime/api/v1/",
            "LIME_API_KEY": "dev-lime-key",
            "GATEWAY_API_KEYS_WEBHOOK": "dev-webhook-key",
            "GATEWAY_API_KEYS_COMMANDS": "dev-commands-key",
            "GATEWAY_API_KEYS_OPERATOR": "dev-operator-key",
            "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
            "REDIS_URL": REDIS_URL,
        }
        return load_settings(env={**env, **overrides})

    return make


@pytest.fixture
def make_gateway(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., tuple[Any, Database]]]:
    """Build (app, db) with the real Celery publisher; settings overrides as keyword arguments."""
    made: list[Database] = []

    def make(**overrides: str) -> tuple[Any, Database]:
        from webhook_gateway import create_app

        settings = make_settings(**overrides)
        upgrade(settings.database_url)
        db = Database(settings.database_url)
        made.append(db)
        app = create_app(settings, db=db)
        app.testing = True
        return app, db

    yield make
    for db in made:
        db.dispose()
