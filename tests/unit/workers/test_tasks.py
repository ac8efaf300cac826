"""Catalogue jobs run as Celery tasks (eagerly, on in-memory Lime and Billecta): what a waiting caller gets,
what the monitor log of a batch object ends with, and what is left for an operator when retries run out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from celery.result import EagerResult
from sqlalchemy import select

from billecta_sync import catalogue, inbox, monitor
from billecta_sync.catalogue import Job
from billecta_sync.container import Services, set_services
from billecta_sync.db import Database, DeadLetter, InboxStatus, MonitorBatch, MonitorLog, MonitorStatus, WebhookInbox
from billecta_sync.lime.values import option_key
from billecta_sync.ratelimit import RateLimitTimeout
from billecta_sync.usecases.billecta_to_lime import events
from taskqueue import make_celery
from tests.unit.fakes import (
    FakeBillecta,
    FakeLime,
    QuickLockRedis,
    RecordingQueue,
    add_order,
    make_services,
    settings_for,
)
from workers.tasks import register_tasks

MAX_RETRIES = 2  # three attempts in all


@dataclass
class Worker:
    services: Services
    tasks: dict[str, Any]

    def run(self, job: Job, *args: Any, **kwargs: Any) -> EagerResult:
        """Run the job's task in this process, retries included (eager retries skip the countdown)."""
        result: EagerResult = self.tasks[job.name].apply(args=list(args), kwargs=kwargs)
        return result


@pytest.fixture
def worker(tmp_path: Path, db: Database, fake_lime: FakeLime, fake_billecta: FakeBillecta,
           fake_redis: QuickLockRedis, task_queue: RecordingQueue) -> Iterator[Worker]:
    settings = settings_for(tmp_path, WORKER_MAX_RETRIES=str(MAX_RETRIES))
    services = make_services(settings, db, lime=fake_lime, billecta=fake_billecta, redis=fake_redis,
                             queue=task_queue)
    app = make_celery(settings)
    app.conf.task_always_eager = True
    tasks = register_tasks(app)
    set_services(services)  # what SyncTask.services hands to the use-cases
    try:
        yield Worker(services, tasks)
    finally:
        set_services(None)


@dataclass(frozen=True)
class Log:
    status: str
    message: str
    batch_status: str


def one_object_batch(db: Database, object_id: int) -> int:
    """A started monitor batch of one order; returns its log's id."""
    batch_id = monitor.create_batch(db, "Upsert & attest orders", "upsert_attest_orders")
    ((log_id, _object),) = monitor.add_logs(db, batch_id, "upsert_attest_orders", "order", [object_id])
    monitor.mark_batch_started(db, batch_id, 1)
    return log_id


def log_of(db: Database, log_id: int) -> Log:
    with db.session() as session:
        log = session.get(MonitorLog, log_id)
        assert log is not None and log.batch_id is not None
        batch = session.get(MonitorBatch, log.batch_id)
        assert batch is not None
        return Log(log.status, log.message, batch.status)


def dead_letters(db: Database) -> list[tuple[str, list[Any], int | None, int | None]]:
    with db.session() as session:
        return [(d.task_name, d.args, d.monitor_log_id, d.inbox_id) for d in session.scalars(select(DeadLetter))]


# ---- interactive: the caller waits for the answer ------------------------------------------------------


def test_an_interactive_refusal_comes_back_as_an_error_answer_not_a_failed_task(
        worker: Worker, fake_lime: FakeLime, fake_billecta: FakeBillecta) -> None:
    ids = add_order(fake_lime, fake_billecta, status="attested")

    result = worker.run(catalogue.ADD_MESSAGE_TO_ORDERROW, ids.row, "Avser lokal 4B")

    assert result.successful()
    assert result.get() == {"error": f"order {ids.order} is attested; its rows can no longer change"}
    assert fake_lime.writes == [] and dead_letters(worker.services.db) == []


def test_an_interactive_job_answers_with_its_result(worker: Worker, fake_lime: FakeLime,
                                                    fake_billecta: FakeBillecta) -> None:
    ids = add_order(fake_lime, fake_billecta)

    answer = worker.run(catalogue.ADD_MESSAGE_TO_ORDERROW, ids.row, "Avser lokal 4B").get()

    assert answer == {"orderrow_id": answer["orderrow_id"], "order_id": ids.order, "position": 2}
    assert fake_lime.obj("orderrow", answer["orderrow_id"])["description"] == "Avser lokal 4B"


# ---- per object: the monitor log says how the object went ----------------------------------------------


def test_a_per_object_job_that_succeeds_ends_its_log_ok_and_settles_its_batch(
        worker: Worker, fake_lime: FakeLime, fake_billecta: FakeBillecta) -> None:
    ids = add_order(fake_lime, fake_billecta)
    log_id = one_object_batch(worker.services.db, ids.order)

    result = worker.run(catalogue.UPSERT_ATTEST_ORDER, ids.order, monitor_log_id=log_id, attest=True)

    assert result.successful()
    (action_id,) = fake_billecta.invoices
    assert log_of(worker.services.db, log_id) == Log(
        MonitorStatus.OK, f"Order {ids.order} → Billecta invoice {action_id} (attested)", MonitorStatus.OK)


def test_a_per_object_job_billecta_refuses_ends_its_log_in_error_without_retrying(
        worker: Worker, fake_lime: FakeLime, fake_billecta: FakeBillecta) -> None:
    ids = add_order(fake_lime, fake_billecta)
    log_id = one_object_batch(worker.services.db, ids.order)
    fake_billecta.fail("create_invoice", FakeBillecta.refusal("InvoiceDate must not be in the past"), times=5)

    result = worker.run(catalogue.UPSERT_ATTEST_ORDER, ids.order, monitor_log_id=log_id, attest=True)

    assert result.failed()
    assert log_of(worker.services.db, log_id) == Log(
        MonitorStatus.ERROR, f"Billecta refused order {ids.order}: InvoiceDate must not be in the past",
        MonitorStatus.DONE_WITH_ERROR)
    assert [name for name, _args in fake_billecta.calls].count("create_invoice") == 1


def test_a_per_object_job_that_recovers_on_a_retry_ends_its_log_ok(worker: Worker, fake_lime: FakeLime,
                                                                    fake_billecta: FakeBillecta) -> None:
    ids = add_order(fake_lime, fake_billecta)
    log_id = one_object_batch(worker.services.db, ids.order)
    fake_billecta.fail("create_invoice", FakeBillecta.outage())

    result = worker.run(catalogue.UPSERT_ATTEST_ORDER, ids.order, monitor_log_id=log_id, attest=True)

    assert result.successful()
    assert log_of(worker.services.db, log_id).status == MonitorStatus.OK
    order = fake_lime.obj("order", ids.order)
    assert (option_key(order["orderstatus"]), order["billecta_error_message"]) == ("attested", "")
    assert len(fake_billecta.invoices) == 1 and dead_letters(worker.services.db) == []


def test_a_per_object_job_that_fails_every_attempt_ends_in_error_on_the_order_the_log_and_a_dead_letter(
        worker: Worker, fake_lime: FakeLime, fake_billecta: FakeBillecta) -> None:
    ids = add_order(fake_lime, fake_billecta)
    log_id = one_object_batch(worker.services.db, ids.order)
    fake_billecta.fail("create_invoice", FakeBillecta.outage(), times=MAX_RETRIES + 1)

    result = worker.run(catalogue.UPSERT_ATTEST_ORDER, ids.order, monitor_log_id=log_id, attest=True)

    assert result.failed()
    outage = "Billecta invoice.create could not connect: connection refused"
    assert log_of(worker.services.db, log_id) == Log(MonitorStatus.ERROR, outage, MonitorStatus.DONE_WITH_ERROR)
    order = fake_lime.obj("order", ids.order)
    assert (option_key(order["orderstatus"]), order["billecta_error_message"]) == ("errorupsert", outage)
    assert [name for name, _args in fake_billecta.calls].count("create_invoice") == MAX_RETRIES + 1
    assert dead_letters(worker.services.db) == [(catalogue.UPSERT_ATTEST_ORDER.name, [ids.order], log_id, None)]


def test_waiting_for_a_spent_rate_limit_budget_is_not_a_failed_attempt(worker: Worker, fake_lime: FakeLime,
                                                                      fake_billecta: FakeBillecta) -> None:
    # Month end: Lime's budget is spent for minutes; more waits than the task has retries must not fail it.
    ids = add_order(fake_lime, fake_billecta)
    log_id = one_object_batch(worker.services.db, ids.order)
    fake_billecta.fail("create_invoice", RateLimitTimeout("ratelimit:lime", 60, 115.0), times=MAX_RETRIES + 3)

    result = worker.run(catalogue.UPSERT_ATTEST_ORDER, ids.order, monitor_log_id=log_id, attest=True)

    assert result.successful()
    assert log_of(worker.services.db, log_id).status == MonitorStatus.OK
    assert option_key(fake_lime.obj("order", ids.order)["orderstatus"]) == "attested"
    assert len(fake_billecta.invoices) == 1 and dead_letters(worker.services.db) == []


def test_a_real_failure_after_budget_waits_still_gets_every_attempt(worker: Worker, fake_lime: FakeLime,
                                                                    fake_billecta: FakeBillecta) -> None:
    ids = add_order(fake_lime, fake_billecta)
    log_id = one_object_batch(worker.services.db, ids.order)
    fake_billecta.fail("create_invoice", RateLimitTimeout("ratelimit:lime", 60, 1.0), times=2)
    fake_billecta.fail("create_invoice", FakeBillecta.outage(), times=MAX_RETRIES)  # then it recovers

    result = worker.run(catalogue.UPSERT_ATTEST_ORDER, ids.order, monitor_log_id=log_id, attest=True)

    assert result.successful()  # two budget waits and two outages: within the three attempts it has
    assert len(fake_billecta.invoices) == 1 and dead_letters(worker.services.db) == []


# ---- inbound: the inbox row and its dead letter ---------------------------------------------------------


def test_an_inbound_job_that_fails_every_attempt_leaves_its_row_dead_with_a_dead_letter(
        worker: Worker, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[str] = []

    def lime_down(_services: Services, event: Any) -> str:
        attempts.append(event.type)
        raise ConnectionError("Lime did not answer")

    monkeypatch.setitem(events.HANDLERS, "InvoiceActionAttested", lime_down)
    body = {"WebhookTriggerType": "InvoiceActionAttested", "ActionPublicId": "a-1"}
    inbox_id = inbox.record(worker.services.db, "billecta", {}, json.dumps(body).encode(), status=InboxStatus.QUEUED)

    result = worker.run(catalogue.inbound_job("billecta"), inbox_id)

    assert result.failed() and len(attempts) == MAX_RETRIES + 1
    with worker.services.db.session() as session:
        row = session.get(WebhookInbox, inbox_id)
        assert row is not None
        assert (row.status, row.last_error) == (InboxStatus.DEAD, "ConnectionError: Lime did not answer")
    assert dead_letters(worker.services.db) == [(catalogue.inbound_job("billecta").name, [inbox_id], None, inbox_id)]
