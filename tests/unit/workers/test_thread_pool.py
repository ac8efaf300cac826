"""What running the per-object queues on Celery's thread pool relies on: one Services per process built once,
an HTTP session per thread, the log context per task thread, time limits the pool does not enforce itself,
and a consumer that survives acknowledging on a channel its lost connection took away."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.concurrency.thread import TaskPool as ThreadPool
from sqlalchemy import select

from billecta_sync import catalogue, container, deadlines, inbox, logs
from billecta_sync.container import Services
from billecta_sync.db import InboxStatus, WebhookInbox
from billecta_sync.httpsessions import ThreadSessions
from billecta_sync.usecases.billecta_to_lime import events
from tests.unit.fakes import settings_for
from tests.unit.workers.test_tasks import Worker, worker  # noqa: F401  # the worker fixture
from workers import timelimits
from workers.celery_app import make_worker_app, uses_threads
from workers.consumer import Consumer

JOB = catalogue.inbound_job("billecta")
BODY = {"WebhookTriggerType": "InvoiceActionAttested", "ActionPublicId": "a-1"}


def in_threads(count: int, fn: Any) -> list[Any]:
    """``fn(index)`` in ``count`` threads started together; their results in order."""
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            results[index] = fn(index)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    if errors:
        raise errors[0]
    return results


# -- the process's collaborators ------------------------------------------------------------------------------
def test_threads_asking_for_the_services_together_get_one_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[object] = []

    def slow_build(_settings: Any) -> Any:
        time.sleep(0.05)  # long enough for every thread to find none built yet
        built.append(object())
        return SimpleNamespace(pid=__import__("os").getpid(), token=built[-1])

    monkeypatch.setattr(container, "build_services", slow_build)
    monkeypatch.setattr(container, "get_settings", lambda: None)
    container.set_services(None)
    try:
        got = in_threads(8, lambda _n: container.get_services())
    finally:
        container.set_services(None)
    assert len(built) == 1
    assert {id(services) for services in got} == {id(got[0])}


def test_the_database_pool_holds_a_connection_per_task_thread(tmp_path: Path) -> None:
    services = container.build_services(settings_for(tmp_path), concurrency=32)
    try:
        assert services.db.engine.pool.size() == 32  # type: ignore[attr-defined]
    finally:
        services.close()
    one_at_a_time = container.build_services(settings_for(tmp_path), concurrency=1)
    try:
        assert one_at_a_time.db.engine.pool.size() == 5  # type: ignore[attr-defined]
    finally:
        one_at_a_time.close()


def test_each_thread_gets_a_session_of_its_own_and_keeps_it() -> None:
    sessions = ThreadSessions()
    firsts = in_threads(4, lambda _n: sessions.get())
    seconds = in_threads(1, lambda _n: (sessions.get(), sessions.get()))
    assert len({id(s) for s in firsts}) == 4
    again, same = seconds[0]
    assert again is same
    sessions.close()


def test_a_session_the_caller_passes_is_shared_and_left_open(monkeypatch: pytest.MonkeyPatch) -> None:
    given = requests.Session()
    closed: list[bool] = []
    monkeypatch.setattr(given, "close", lambda: closed.append(True))
    sessions = ThreadSessions(given)
    assert set(in_threads(3, lambda _n: sessions.get())) == {given}
    sessions.close()
    assert closed == []


def test_closing_closes_the_sessions_it_made() -> None:
    sessions = ThreadSessions()
    made = in_threads(2, lambda _n: sessions.get())
    closed: list[int] = []
    for n, session in enumerate(made):
        session.close = lambda n=n: closed.append(n)  # type: ignore[method-assign]
    sessions.close()
    assert sorted(closed) == [0, 1]
    assert sessions.get() not in made  # a later request gets a fresh session


# -- the log context --------------------------------------------------------------------------------------------
def test_tasks_running_together_in_threads_each_log_their_own_correlation_id(
        worker: Worker, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    together = threading.Barrier(2, timeout=10)
    seen: dict[int, tuple[str, str]] = {}

    def handler(_services: Services, event: Any) -> str:
        together.wait()  # both tasks are inside their use-case at the same time
        from structlog.contextvars import get_contextvars

        context = get_contextvars()
        seen[int(context["inbox_id"])] = (logs.correlation_id(), str(context["task_id"]))
        return "done"

    monkeypatch.setitem(events.HANDLERS, "InvoiceActionAttested", handler)
    rows = [inbox.record(worker.services.db, "billecta", {}, json.dumps({**BODY, "EventId": str(n)}).encode(),
                         status=InboxStatus.QUEUED, correlation_id=f"cid-{n}") for n in range(2)]
    # Bind the task first, as a worker does at start-up: eager tasks bind on first use, which two threads race.
    assert worker.tasks[JOB.name].request_stack is not None
    results = in_threads(2, lambda n: worker.run(JOB, rows[n]))
    assert all(result.successful() for result in results)
    assert {row: cid for row, (cid, _task) in seen.items()} == {rows[0]: "cid-0", rows[1]: "cid-1"}
    assert len({task for _cid, task in seen.values()}) == 2


# -- time limits on the thread pool --------------------------------------------------------------------------------
def test_the_soft_deadline_is_met_once_at_the_next_check() -> None:
    deadlines.check()  # outside a deadline: nothing
    with deadlines.soft_deadline(0.01):
        deadlines.check()
        time.sleep(0.02)
        with pytest.raises(deadlines.SoftTimeLimitReached):
            deadlines.check()
        deadlines.check()  # once, like Celery's signal: recording the failure may go on
    with deadlines.soft_deadline(None):
        deadlines.check()


def test_the_clients_meet_the_soft_deadline_before_their_next_request() -> None:
    sessions = ThreadSessions()
    with deadlines.soft_deadline(0.0), pytest.raises(deadlines.SoftTimeLimitReached):
        sessions.get()
    sessions.close()


def test_a_wait_for_an_object_another_worker_holds_ends_at_the_soft_limit_not_past_the_hard_one() -> None:
    # Waiting out a dead holder's lock (or a long refresh) for longer than the task may run would end the
    # whole worker at the hard limit; cut at the soft limit, the task is retried like any slow one.
    import fakeredis

    from billecta_sync.locks import object_lock

    client = fakeredis.FakeRedis()
    assert client.lock("lock:invoice:1", timeout=60).acquire(blocking=False)
    started = time.monotonic()
    with (deadlines.soft_deadline(0.2), pytest.raises(deadlines.SoftTimeLimitReached),
          object_lock(client, "invoice:1", timeout_s=60, wait_s=30)):
        pytest.fail("the lock was held elsewhere")
    assert time.monotonic() - started < 5
    with object_lock(client, "invoice:2", timeout_s=60, wait_s=30):  # a free object: no wait at all
        pass


def test_a_wait_for_a_rate_limit_slot_ends_at_the_soft_limit() -> None:
    from billecta_sync.ratelimit import LocalRateLimiter, RateLimitTimeout

    limiter = LocalRateLimiter(1, 30)
    limiter.acquire()
    started = time.monotonic()
    with deadlines.soft_deadline(0.2), pytest.raises(RateLimitTimeout):
        limiter.acquire(timeout_s=60)  # the next slot is 30 s away: past the task's soft limit
    assert time.monotonic() - started < 5
    quick = LocalRateLimiter(1, 0.2)
    quick.acquire()
    with deadlines.soft_deadline(5):
        quick.acquire(timeout_s=60)  # a slot within the task's time is waited for


def test_a_task_past_its_hard_limit_is_reported_by_the_watchdog_and_a_finished_one_is_not() -> None:
    overdue: list[timelimits.Running] = []
    watchdog = timelimits.Watchdog(on_overdue=overdue.append, interval_s=0.01)
    watchdog.start()
    try:
        with watchdog.hard_limit("quick", "t-1", 5):
            pass
        with watchdog.hard_limit("stuck", "t-2", 0.02):
            deadline = time.monotonic() + 5
            while not overdue and time.monotonic() < deadline:
                time.sleep(0.01)
    finally:
        watchdog.stop()
    assert overdue and {entry.task_id for entry in overdue} == {"t-2"}
    assert watchdog.overdue(now=time.monotonic() + 60) == []  # both blocks are over


def test_past_the_hard_limit_the_worker_process_ends_with_its_own_exit_code() -> None:
    stuck = textwrap.dedent("""
        import time
        from workers import timelimits
        watchdog = timelimits.enable(timelimits.Watchdog(interval_s=0.01))
        with watchdog.hard_limit("billecta_sync.orders.upsert_attest_order", "t-1", 0.05):
            time.sleep(10)
    """)
    done = subprocess.run([sys.executable, "-c", stuck], capture_output=True, text=True, timeout=30,
                          cwd=Path(__file__).resolve().parents[3])
    assert done.returncode == timelimits.HARD_LIMIT_EXIT_CODE
    assert "upsert_attest_order[t-1] ran past its hard time limit" in done.stderr


def test_a_use_case_past_its_soft_limit_is_retried_then_dead_and_its_failure_recorded(
        worker: Worker, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    task = worker.tasks[JOB.name]
    monkeypatch.setattr(task, "soft_time_limit", 0.01)  # as a job's own limit would be
    sessions = ThreadSessions()

    def slow(_services: Services, _event: Any) -> str:
        time.sleep(0.02)
        sessions.get()  # the next Billecta or Lime request
        return "never"

    monkeypatch.setitem(events.HANDLERS, "InvoiceActionAttested", slow)
    inbox_id = inbox.record(worker.services.db, "billecta", {}, json.dumps(BODY).encode(), status=InboxStatus.QUEUED)
    timelimits.enable(timelimits.Watchdog(on_overdue=lambda _entry: None))
    try:
        assert worker.run(JOB, inbox_id).failed()
    finally:
        timelimits.disable()
        sessions.close()
    with worker.services.db.session() as session:
        row = session.scalars(select(WebhookInbox).where(WebhookInbox.id == inbox_id)).one()
        assert (row.status, row.attempts) == (InboxStatus.DEAD, 3)
        assert "SoftTimeLimitReached" in row.last_error


def test_without_the_thread_pool_the_limits_are_left_to_celery() -> None:
    assert not timelimits.enabled()
    with timelimits.hard_limit("job", "t", 0.0), timelimits.soft_limit(0.0):
        deadlines.check()  # no deadline was set


def test_the_pool_is_told_apart_by_name_or_class() -> None:
    assert uses_threads("threads") and uses_threads(ThreadPool)
    assert not uses_threads("prefork") and not uses_threads(PreforkPool) and not uses_threads("solo")


# -- the consumer -----------------------------------------------------------------------------------------------
def consumer(tmp_path: Path, pool: Any) -> Consumer:
    app = make_worker_app(settings_for(tmp_path))
    assert app.conf.worker_consumer == "workers.consumer:Consumer"
    controller = SimpleNamespace(use_eventloop=True, state=None)
    return Consumer(lambda *_args: None, pool=pool, app=app, hostname="test@host", controller=controller)


def test_on_threads_an_ack_on_a_dead_channel_is_a_connection_error_not_the_end_of_the_worker(tmp_path: Path) -> None:
    assert AttributeError in consumer(tmp_path, ThreadPool(2)).connection_errors
    assert AttributeError not in consumer(tmp_path, PreforkPool(2)).connection_errors


def test_a_lost_connection_that_cannot_be_closed_is_dropped_and_the_consumer_goes_on(tmp_path: Path) -> None:
    on_threads = consumer(tmp_path, ThreadPool(2))

    def close() -> None:
        raise AttributeError("'NoneType' object has no attribute 'hostname'")

    on_threads.connection = SimpleNamespace(connection_errors=(), channel_errors=(), collect=lambda **_kw: None,
                                            close=close, connection=None, transport=None)
    on_threads.on_connection_error_after_connected(ConnectionError("Redis went away"))
    assert on_threads.connection is None
