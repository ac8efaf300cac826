"""Fixtures for the unit tests: a real, migrated SQLite file per test, and ``Services`` over in-memory fakes
of Lime, Billecta, Redis and the task queue (``tests/unit/fakes.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from billecta_sync.container import Services
from billecta_sync.db import Database, upgrade
from billecta_sync.settings import Settings
from tests.unit.fakes import FakeBillecta, FakeLime, QuickLockRedis, RecordingQueue, make_services, settings_for


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'service.db'}"
    upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


@pytest.fixture
def sync_settings(tmp_path: Path) -> Settings:
    return settings_for(tmp_path)


@pytest.fixture
def fake_lime() -> FakeLime:
    return FakeLime()


@pytest.fixture
def fake_billecta() -> FakeBillecta:
    return FakeBillecta()


@pytest.fixture
def fake_redis() -> QuickLockRedis:
    return QuickLockRedis()


@pytest.fixture
def task_queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def services(sync_settings: Settings, db: Database, fake_lime: FakeLime, fake_billecta: FakeBillecta,
             fake_redis: QuickLockRedis, task_queue: RecordingQueue) -> Services:
    return make_services(sync_settings, db, lime=fake_lime, billecta=fake_billecta, redis=fake_redis,
                         queue=task_queue)
