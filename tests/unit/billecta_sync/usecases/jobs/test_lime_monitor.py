"""The integration monitor mirrored into Lime (usecases/jobs/lime_monitor.py), on in-memory Lime and Billecta:
what Lime shows after a batch with failures, what it costs in Lime requests, and how failures are survived.

The batches run as the workers run them (Celery tasks applied eagerly), so the monitor rows are the real ones.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from billecta_sync import catalogue, monitor
from billecta_sync.container import Services, set_services
from billecta_sync.db import Database, JobRun, MonitorBatch, MonitorLog, MonitorStatus, upgrade
from billecta_sync.lime.errors import LimeConnectionError
from billecta_sync.lime.values import option_key
from billecta_sync.settings import ConfigError, load_settings
from billecta_sync.usecases.jobs import lime_monitor
from taskqueue import make_celery
from tests.unit.fakes import (
    FakeBillecta,
    FakeLime,
    QuickLockRedis,
    RecordingQueue,
    Write,
    add_order,
    make_services,
    settings_for,
)
from workers.tasks import register_tasks

KEY = "billecta-sync-test"


class CountingLime(FakeLime):
    """FakeLime that counts every call the client would make an HTTP request for, by limetype."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[str, str]] = []

    def get(self, limetype: str, id: int) -> dict[str, Any]:
        self.requests.append(("get", limetype))
        return super().get(limetype, id)

    def create(self, limetype: str, values: Mapping[str, Any]) -> dict[str, Any]:
        # Not through FakeLime.add(limetype, **values): a log has a property named "limetype" itself.
        self.requests.append(("create", limetype))
        self._maybe_fail("create")
        self._next_id += 1
        self.objects.setdefault(limetype, {})[self._next_id] = {**values, "_id": self._next_id}
        self.writes.append(Write("create", limetype, self._next_id, dict(values)))
        return copy.deepcopy(self.objects[limetype][self._next_id])

    def update(self, limetype: str, id: int, values: Mapping[str, Any]) -> dict[str, Any]:
        self.requests.append(("update", limetype))
        return super().update(limetype, id, values)

    def query(self, limetype: str, properties: Any, filter: Any = None, order_by: Any = None,
              limit: int | None = None, page_size: int = 200) -> Iterator[dict[str, Any]]:
        self.requests.append(("query", limetype))
        return super().query(limetype, properties, filter, order_by, limit, page_size)

    def monitor_requests(self) -> int:
        return sum(1 for _op, limetype in self.requests if limetype.startswith("integration_monitor"))


@dataclass
class Worker:
    services: Services
    tasks: dict[str, Any]
    queue: RecordingQueue

    def mirror(self) -> dict[str, Any]:
        result = self.tasks[catalogue.MIRROR_MONITOR_TO_LIME.name].apply()
        assert result.successful(), result.traceback  # whatever Lime does, the job itself never fails
        return result.get()  # type: ignore[no-any-return]

    def run_batch(self, object_ids: list[int], *, finish: bool = True) -> int:
        """An "Upsert & attest orders" batch over ``object_ids``, started and (unless not ``finish``) run."""
        batch_id = monitor.create_batch(self.services.db, "Upsert & attest orders", "upsert_attest_orders",
                                        {"key": "_id", "op": "IN", "exp": object_ids}, {"attest": True})
        assert self.tasks[catalogue.START_BATCH.name].apply(args=[batch_id]).successful()
        if finish:
            self.finish_tasks()
        return batch_id

    def finish_tasks(self, count: int | None = None) -> None:
        """Run the batch's published per-object tasks (the first ``count`` of them), as a worker would."""
        todo = list(self.queue.published[:count])
        del self.queue.published[:len(todo)]
        for published in todo:
            self.tasks[published.task].apply(args=published.args, kwargs=published.kwargs)


@pytest.fixture
def lime() -> CountingLime:
    return CountingLime()


@pytest.fixture
def worker(tmp_path: Path, db: Database, lime: CountingLime, fake_billecta: FakeBillecta,
           fake_redis: QuickLockRedis, task_queue: RecordingQueue) -> Iterator[Worker]:
    settings = settings_for(tmp_path, WORKER_MAX_RETRIES="0", LIME_MONITOR_MIRROR="true",
                            LIME_MONITOR_INTEGRATION_KEY=KEY)
    services = make_services(settings, db, lime=lime, billecta=fake_billecta, redis=fake_redis, queue=task_queue)
    app = make_celery(settings)
    app.conf.task_always_eager = True
    tasks = register_tasks(app)
    set_services(services)
    lime_monitor.forget_monitor_ids()
    try:
        yield Worker(services, tasks, task_queue)
    finally:
        set_services(None)
        lime_monitor.forget_monitor_ids()


def orders(lime: FakeLime, billecta: FakeBillecta, count: int) -> list[int]:
    return [add_order(lime, billecta).order for _ in range(count)]


def orders_with_failures(lime: FakeLime, billecta: FakeBillecta) -> list[int]:
    """Four orders, run in this order: Billecta refuses the first, the second has no rows, two go through."""
    ids = orders(lime, billecta, 4)
    for row in [r for r in lime.all("orderrow") if r["order"] == ids[1]]:
        del lime.objects["orderrow"][row["_id"]]
    billecta.fail("create_invoice", FakeBillecta.refusal("InvoiceDate must not be in the past"))
    return ids


def service_view(db: Database, batch_id: int) -> dict[str, Any]:
    summary = monitor.batch_summary(db, batch_id)
    assert summary is not None
    return {
        "title": summary["title"], "status": summary["status"], "total": summary["total"],
        "ok": summary["counts"]["ok"], "error": summary["counts"]["error"], "message": summary["message"],
        "logs": sorted((int(entry["object_id"]), entry["limetype"], entry["status"], entry["message"])
                       for entry in summary["logs"]),
    }


def lime_view(lime: FakeLime, batch_lime_id: int) -> dict[str, Any]:
    batch = lime.obj("integration_monitor_batch", batch_lime_id)
    logs = [entry for entry in lime.all("integration_monitor_log")
            if entry["integration_monitor_batch"] == batch_lime_id]
    return {
        "title": batch["title"], "status": option_key(batch["status"]), "total": batch["totalcount"],
        "ok": batch["okcount"], "error": batch["errorcount"], "message": batch["message"],
        "logs": sorted((entry["objectid"], entry["limetype"], option_key(entry["status"]), entry["message"])
                       for entry in logs),
    }


def lime_id_of(db: Database, batch_id: int) -> int:
    with db.session() as session:
        batch = session.get(MonitorBatch, batch_id)
        assert batch is not None and batch.lime_id
        return batch.lime_id


# ---- what Lime shows ------------------------------------------------------------------------------------


def test_after_a_batch_with_failures_lime_shows_the_same_batch_and_logs_as_the_service(
        worker: Worker, lime: CountingLime, fake_billecta: FakeBillecta) -> None:
    ids = orders_with_failures(lime, fake_billecta)
    batch_id = worker.run_batch(ids)

    summary = worker.mirror()

    service = service_view(worker.services.db, batch_id)
    assert (service["status"], service["total"], service["ok"], service["error"]) == (
        MonitorStatus.DONE_WITH_ERROR, 4, 2, 2)
    assert [entry for entry in service["logs"] if entry[2] == MonitorStatus.ERROR] == [
        (ids[0], "order", "error", f"Billecta refused order {ids[0]}: InvoiceDate must not be in the past"),
        (ids[1], "order", "error", f"Order {ids[1]} has no rows.")]
    lime_batch = lime_id_of(worker.services.db, batch_id)
    assert lime_view(lime, lime_batch) == service
    (integration_monitor,) = lime.all("integration_monitor")
    assert (integration_monitor["integration_key"], integration_monitor["type"]) == (KEY, "batch")
    batch = lime.obj("integration_monitor_batch", lime_batch)
    assert (batch["integration_monitor"], batch["operation"], batch["externalid"]) == (
        integration_monitor["_id"], "upsert_attest_orders", str(batch_id))
    assert batch["starttime"] <= batch["endtime"]
    assert {entry["integration_monitor"] for entry in lime.all("integration_monitor_log")} == {
        integration_monitor["_id"]}
    # Settled before the run: created as it ended, so it needs no update; one request per object besides.
    assert summary == {"batches_created": 1, "batches_updated": 0, "logs_created": 4, "logs_updated": 0,
                       "lime_requests": 7, "pending": 0, "lag_s": 0.0}
    assert (monitor.batch_summary(worker.services.db, batch_id) or {})["lime_id"] == lime_batch


def test_a_batch_mirrored_while_it_runs_is_updated_when_it_settles(
        worker: Worker, lime: CountingLime, fake_billecta: FakeBillecta) -> None:
    batch_id = worker.run_batch(orders_with_failures(lime, fake_billecta), finish=False)
    worker.finish_tasks(1)  # the refused one
    worker.mirror()
    lime_batch = lime_id_of(worker.services.db, batch_id)
    assert option_key(lime.obj("integration_monitor_batch", lime_batch)["status"]) == MonitorStatus.RUNNING
    assert len(lime.all("integration_monitor_log")) == 1  # only what has finished; never a running log

    worker.finish_tasks()
    worker.mirror()

    assert lime_view(lime, lime_batch) == service_view(worker.services.db, batch_id)
    assert len(lime.all("integration_monitor_batch")) == 1


def test_a_log_that_finishes_again_is_updated_in_lime_not_created_twice(
        worker: Worker, lime: CountingLime, fake_billecta: FakeBillecta) -> None:
    batch_id = worker.run_batch(orders(lime, fake_billecta, 2))
    worker.mirror()
    with worker.services.db.session() as session:
        log_id = session.scalars(select(MonitorLog.id).where(MonitorLog.batch_id == batch_id)).first()
    assert log_id is not None
    monitor.log_started(worker.services.db, log_id, "task-again")
    monitor.log_finished(worker.services.db, log_id, MonitorStatus.OK, "sent again")

    assert worker.mirror()["logs_updated"] == 1

    assert lime_view(lime, lime_id_of(worker.services.db, batch_id)) == service_view(worker.services.db, batch_id)
    assert len(lime.all("integration_monitor_log")) == 2


# ---- what it costs ----------------------------------------------------------------------------------------


def test_mirroring_costs_one_lime_request_per_object_and_one_or_two_per_batch(
        worker: Worker, lime: CountingLime, fake_billecta: FakeBillecta) -> None:
    # The first run of a process reads the integration_monitor record (here: and creates it, Lime has none).
    first = worker.run_batch(orders(lime, fake_billecta, 6))
    lime.requests.clear()
    worker.mirror()
    assert lime.requests == [("query", "integration_monitor"), ("create", "integration_monitor"),
                             ("create", "integration_monitor_batch"), *[("create", "integration_monitor_log")] * 6]

    # A batch that settled before the run: one create per object, one for the batch, nothing else.
    lime.requests.clear()
    worker.run_batch(orders(lime, fake_billecta, 5))
    before = lime.monitor_requests()
    worker.mirror()
    assert lime.monitor_requests() - before == 5 + 1

    # A batch the mirror sees running: still one request per object, plus the batch's update when it settles.
    worker.run_batch(orders(lime, fake_billecta, 8), finish=False)
    worker.finish_tasks(3)
    before = lime.monitor_requests()
    worker.mirror()
    worker.finish_tasks()
    worker.mirror()
    assert lime.monitor_requests() - before == 8 + 2

    # Nothing new: a run costs no Lime request at all.
    before = len(lime.requests)
    assert worker.mirror()["lime_requests"] == 0
    assert len(lime.requests) == before
    assert lime_view(lime, lime_id_of(worker.services.db, first)) == service_view(worker.services.db, first)


def test_the_mirror_off_sends_nothing(tmp_path: Path, db: Database, lime: CountingLime) -> None:
    services = make_services(settings_for(tmp_path), db, lime=lime)  # development: off unless set
    batch_id = monitor.create_batch(db, "t", "upsert_orders")
    monitor.fail_batch(db, batch_id, "Could not start")

    assert lime_monitor.mirror_to_lime(services) == {"mirror": "off"}
    assert lime.requests == []


# ---- failures -----------------------------------------------------------------------------------------


def test_a_lime_outage_fails_no_command_and_the_next_run_catches_up_without_duplicates(
        worker: Worker, lime: CountingLime, fake_billecta: FakeBillecta) -> None:
    batch_id = worker.run_batch(orders(lime, fake_billecta, 3), finish=False)
    worker.mirror()  # the batch, still running, is in Lime
    worker.finish_tasks()
    assert service_view(worker.services.db, batch_id)["status"] == MonitorStatus.OK  # the command is done
    outage = LimeConnectionError("Lime limeobject.create could not connect: connection refused")
    lime.fail("create", outage)

    failed = worker.mirror()  # the task still succeeds: the error is the run's, recorded

    assert failed["error"] == f"LimeConnectionError: {outage}" and failed["logs_created"] == 0
    assert failed["pending"] == 4  # three logs and the batch's update
    with worker.services.db.session() as session:
        (run,) = session.scalars(select(JobRun).where(JobRun.job == lime_monitor.JOB)).all()
        assert (run.status, run.message, run.counts["pending"]) == ("error", failed["error"], 4)

    caught_up = worker.mirror()  # Lime is back

    assert "error" not in caught_up and caught_up["pending"] == 0
    assert (caught_up["logs_created"], caught_up["batches_updated"]) == (3, 1)
    assert lime_view(lime, lime_id_of(worker.services.db, batch_id)) == service_view(worker.services.db, batch_id)
    assert len(lime.all("integration_monitor_log")) == 3
    with worker.services.db.session() as session:
        (run,) = session.scalars(select(JobRun).where(JobRun.job == lime_monitor.JOB)).all()
        assert (run.status, run.message, run.counts["failed_runs"], run.counts["pending"]) == ("ok", "", 1, 0)


def test_a_create_whose_answer_was_lost_is_found_in_lime_instead_of_created_twice(
        worker: Worker, lime: CountingLime, fake_billecta: FakeBillecta, monkeypatch: pytest.MonkeyPatch) -> None:
    batch_id = worker.run_batch(orders(lime, fake_billecta, 3))
    real_create = lime.create
    calls = {"logs": 0}

    def create_then_time_out(limetype: str, values: Mapping[str, Any]) -> dict[str, Any]:
        created = real_create(limetype, values)
        if limetype == "integration_monitor_log":
            calls["logs"] += 1
            if calls["logs"] == 2:  # Lime stored it, but its answer never arrived
                raise LimeConnectionError("Lime limeobject.create timed out")
        return created

    monkeypatch.setattr(lime, "create", create_then_time_out)
    assert "error" in worker.mirror()
    monkeypatch.setattr(lime, "create", real_create)

    assert "error" not in worker.mirror()

    assert len(lime.all("integration_monitor_log")) == 3
    assert lime_view(lime, lime_id_of(worker.services.db, batch_id)) == service_view(worker.services.db, batch_id)


def test_a_second_run_while_one_runs_does_nothing(worker: Worker, fake_redis: QuickLockRedis) -> None:
    held = fake_redis.lock(lime_monitor.LOCK, timeout=60)
    assert held.acquire(blocking=False)
    try:
        assert worker.mirror() == {"mirror": "busy"}
    finally:
        held.release()


def test_a_failed_start_is_mirrored_as_an_error_batch(worker: Worker, lime: CountingLime) -> None:
    batch_id = monitor.create_batch(worker.services.db, "Upsert orders", "upsert_orders")
    monitor.fail_batch(worker.services.db, batch_id, "Could not start: Lime is down")

    worker.mirror()

    batch = lime.obj("integration_monitor_batch", lime_id_of(worker.services.db, batch_id))
    assert (option_key(batch["status"]), batch["message"]) == (MonitorStatus.ERROR, "Could not start: Lime is down")


def test_the_existing_integration_monitor_record_is_used_and_read_once_per_process(
        worker: Worker, lime: CountingLime, fake_billecta: FakeBillecta) -> None:
    existing = lime.add("integration_monitor", name="Billecta", integration_key=KEY, type="batch", active=True)
    lime.add("integration_monitor", name="Other", integration_key="other", type="batch", active=True)
    worker.run_batch(orders(lime, fake_billecta, 1))
    worker.mirror()
    worker.run_batch(orders(lime, fake_billecta, 1))
    worker.mirror()

    assert [r for r in lime.requests if r[1] == "integration_monitor"] == [("query", "integration_monitor")]
    assert {b["integration_monitor"] for b in lime.all("integration_monitor_batch")} == {existing}


# ---- history and settings ------------------------------------------------------------------------------


def test_finished_history_from_before_the_migration_is_not_mirrored_but_running_batches_are(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'service.db'}"
    upgrade(url, "0002")
    engine = create_engine(url)
    with engine.begin() as connection:  # rows as the previous release wrote them
        for batch_id, status in ((1, "ok"), (2, "running")):
            connection.exec_driver_sql(
                "INSERT INTO monitor_batch (id, title, operation, status, params, started, total, message, "
                f"created_at, updated_at) VALUES ({batch_id}, 't', 'upsert_orders', '{status}', '{{}}', 1, 1, '', "
                "'2026-12-01', '2026-12-01')")
            connection.exec_driver_sql(
                "INSERT INTO monitor_log (batch_id, operation, limetype, object_id, status, message, task_id, "
                f"attempts, created_at, updated_at, correlation_id) VALUES ({batch_id}, 'upsert_orders', 'order', "
                f"'{100 + batch_id}', 'ok', 'sent', '', 1, '2026-12-01', '2026-12-01', '')")
    engine.dispose()
    upgrade(url)
    database = Database(url)
    try:
        with database.session() as session:
            batches = dict(session.execute(select(MonitorBatch.id, MonitorBatch.lime_synced_at)).all())
            logs = dict(session.execute(select(MonitorLog.batch_id, MonitorLog.lime_synced_at)).all())
        assert batches[1] is not None and logs[1] is not None  # finished before: stays in the service
        assert batches[2] is None and logs[2] is None  # still running: mirrored whole once it settles
        assert lime_monitor.backlog(database)[1] == 2  # the running batch and its finished log
    finally:
        database.dispose()


def test_the_mirror_is_on_in_production_and_off_in_development_unless_set(tmp_path: Path) -> None:
    production = {
        "BILLECTA_API_BASE_URL": "https://apitest.billecta.com/v1",
        "BILLECTA_API_AUTHENTICATION": "SecureToken " + secrets.token_urlsafe(24),
        "LIME_BASE_URL": "https://acme.lime-crm.com/acme/api/v1/", "LIME_API_KEY": secrets.token_hex(16),
        "LIME_WEBHOOK_SECRET": secrets.token_urlsafe(32), "GATEWAY_SESSION_SECRET": secrets.token_urlsafe(32),
        "FLOWER_BASIC_AUTH": "ops:" + secrets.token_urlsafe(24),
        **{f"GATEWAY_API_KEYS_{scope}": secrets.token_urlsafe(32) for scope in ("WEBHOOK", "COMMANDS", "OPERATOR")},
    }
    assert load_settings(env=production).lime_monitor.mirror is True
    assert load_settings(env={**production, "LIME_MONITOR_MIRROR": "false"}).lime_monitor.mirror is False
    assert settings_for(tmp_path).lime_monitor.mirror is False
    assert settings_for(tmp_path, LIME_MONITOR_MIRROR="true").lime_monitor.mirror is True
    assert settings_for(tmp_path).lime_monitor.integration_key == "billecta-sync"
    with pytest.raises(ConfigError, match="LIME_MONITOR_INTEGRATION_KEY must be at most 32 characters"):
        settings_for(tmp_path, LIME_MONITOR_INTEGRATION_KEY="k" * 33)
