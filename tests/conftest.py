"""Shared fixtures: the real stack (processes, HTTP, Redis, SQL) for integration and end-to-end tests."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from billecta_sync.billecta import BillectaClient
from billecta_sync.lime import LimeClient
from billecta_sync.settings import BillectaSettings, LimeSettings, Secret
from devstack.demo import DemoTarget
from devstack.stack import Ports, Stack, StackConfig, redis_answers, running_stacks
from tests import debian_packages
from tests.redis_support import redis_db_url

# Test folders mirror the package tree (tests/unit/workers, tests/unit/billecta_sync, ...) and pytest puts
# folders such as tests/unit on sys.path; with the repository root on sys.path too, the real (regular)
# packages always win over those folders as namespace packages, however pytest is started.
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.append(_ROOT)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start installing the Debian programs the collected tests need (``tests/debian_packages.py``)."""
    needed = {program for item in session.items for mark in item.iter_markers(debian_packages.MARKER)
              for program in mark.args}
    if needed:
        debian_packages.start(needed)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A test that failed against a running stack shows what its processes were doing: which are still up
    and the end of each one's log (a CI run keeps nothing else)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed and report.when == "call":
        for stack in running_stacks():
            report.sections.append((f"stack {stack.config.var_dir.name}", stack.diagnosis()))


POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def postgres_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL.replace("+psycopg", ""), connect_timeout=2):
            return True
    except Exception:
        return False


def create_postgres_database() -> tuple[str, str]:
    """A fresh, empty PostgreSQL database for one test session; returns (url, name)."""
    import psycopg

    name = f"billecta_sync_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN_URL.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}", name


def drop_postgres_database(name: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def start_stack(tmp: Path, *, database_url: str | None, redis_index: int, **overrides: object) -> Stack:
    redis_url = redis_db_url(redis_index)
    if redis_answers(redis_url):
        import redis

        redis.Redis.from_url(redis_url).flushdb()
    # A short coalescing window: bursts are still coalesced, and no test waits a whole second per invoice.
    extra_env = {"WORKER_COALESCE_WINDOW_S": "0.3", **dict(overrides.pop("extra_env", None) or {})}  # type: ignore[call-overload]
    config = StackConfig(var_dir=tmp, ports=Ports.free(), redis_url=redis_url, database_url=database_url,
                         services=("billecta-sandbox", "lime-sandbox", "gateway", "worker", "beat"),
                         quiet=True, extra_env=extra_env, **overrides)  # type: ignore[arg-type]
    stack = Stack(config)
    try:
        stack.start(timeout_s=90)
    except Exception:
        logs = "\n".join(f"--- {name}\n{stack.log_tail(name, 40)}" for name in stack.logs)
        stack.stop()
        raise RuntimeError(f"the stack did not start:\n{logs}") from None
    return stack


@pytest.fixture(scope="session")
def stack_starter() -> Callable[..., Stack]:
    """``start_stack`` for tests that need a stack of their own settings (conftest modules cannot be imported)."""
    return start_stack


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole stack as real processes, once on SQLite and once on PostgreSQL (when reachable)."""
    tmp = tmp_path_factory.mktemp(f"stack-{request.param}")
    pg_name = None
    if request.param == "postgres":
        if not postgres_reachable():
            pytest.skip(f"PostgreSQL does not answer at {POSTGRES_ADMIN_URL}")
        database_url, pg_name = create_postgres_database()
    else:
        database_url = None
    running = start_stack(tmp, database_url=database_url, redis_index=12 if request.param == "sqlite" else 13)
    try:
        yield running
    finally:
        running.stop()
        if pg_name:
            drop_postgres_database(pg_name)


# Clients and demo target for whichever `stack` the requesting module uses (the shared one above, or a
# module's own stack fixture with different settings).
@pytest.fixture(scope="module")
def target(stack: Stack) -> DemoTarget:
    return DemoTarget(gateway_url=stack.gateway_url, billecta_url=stack.billecta_url, lime_url=stack.lime_url)


@pytest.fixture(scope="module")
def billecta(stack: Stack) -> Iterator[BillectaClient]:
    client = BillectaClient(BillectaSettings(base_url=stack.billecta_url,
                                             authentication=Secret(stack.config.billecta_auth)))
    yield client
    client.close()


@pytest.fixture(scope="module")
def lime(stack: Stack) -> LimeClient:
    return LimeClient(LimeSettings(base_url=stack.lime_url, api_key=Secret(stack.config.lime_key)))
