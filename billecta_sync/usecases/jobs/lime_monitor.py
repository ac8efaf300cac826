"""The integration monitor mirrored into Lime: each monitor batch and log as an ``integration_monitor_batch`` and
an ``integration_monitor_log``, under the ``integration_monitor`` record of ``LIME_MONITOR_INTEGRATION_KEY``.

Nothing is written to Lime while a user's command runs, so Lime being slow, down or refusing never touches the
command: this job (every ``WORKER_SWEEP_INTERVAL_S``) sends what changed since its last run, found by
``lime_synced_at`` (``billecta_sync.db.LimeMirror``). Lime has no bulk write, so the cost is kept to what
cannot be saved:

* a log is created once it has finished, with its final status and message: one request per object;
* a batch is created once it has started (already settled if it ended before the run) and updated when it
  settles, after all its logs are in Lime: one or two requests per batch;
* the ``integration_monitor`` record is read once per process (created when Lime has none).

Every request goes through the service's Lime client, so it waits for the same shared rate limit as the sync
itself, and one run sends at most ``MAX_WRITES_PER_RUN`` objects. A failed run keeps what it sent, records the
error and leaves the rest to the next run; the lag shows on the ``billecta_sync_lime_monitor_lag_seconds``
gauge and, with the error, in the day's ``job_run`` row (operator console, "Nightly jobs").

The batch and log properties are this service's choice (Lime does not publish the integration monitor
package's fields); ``sandbox/lime/datamodel.py`` and docs/operations.md list them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from prometheus_client import Gauge
from sqlalchemy import DateTime, and_, bindparam, case, exists, func, or_, select, update
from sqlalchemy.orm import Session

from billecta_sync.container import Services
from billecta_sync.db import Database, JobRun, LimeMirror, MonitorBatch, MonitorLog, MonitorStatus, utcnow
from billecta_sync.lime.errors import LimeApiError

log = logging.getLogger(__name__)

MONITOR = "integration_monitor"
BATCH = "integration_monitor_batch"
LOG = "integration_monitor_log"
#: the name an integration_monitor record gets when this service creates it
MONITOR_NAME = "billecta-sync"

JOB = "lime_monitor_mirror"  # its job_run rows, one per day
LOCK = "lock:job:lime-monitor-mirror"
#: objects one run sends at most, so a backlog (after an outage) cannot take the Lime budget the sync shares
MAX_WRITES_PER_RUN = 300
#: a run starts no new chunk after this long (well inside the default 120 s soft time limit)
RUN_BUDGET_S = 45.0
CHUNK = 50  # creates marked in flight, and recorded, per database statement
FINISHED = (MonitorStatus.OK, MonitorStatus.ERROR)

# The most recent value of whichever worker process ran the mirror last: they all read the same database.
LAG = Gauge("billecta_sync_lime_monitor_lag_seconds",
            "Age of the oldest monitor change not yet in Lime's integration monitor (0 when none)",
            multiprocess_mode="livemostrecent")

# integration_monitor ids by (Lime base URL, integration key): one read per process.
_monitor_ids: dict[tuple[str, str], int] = {}


def forget_monitor_ids() -> None:
    """Read the integration_monitor record again on the next run (tests; a record deleted in Lime)."""
    _monitor_ids.clear()


def mirror_to_lime(services: Services) -> dict[str, Any]:
    """Send every monitor change Lime lacks; a no-op unless ``LIME_MONITOR_MIRROR`` is on."""
    config = services.settings.lime_monitor
    if not config.mirror:
        return {"mirror": "off"}
    # One run at a time across workers: two would send the same pending rows twice.
    lock = services.redis.lock(LOCK, timeout=services.settings.worker.task_time_limit_s)
    if not lock.acquire(blocking=False):
        return {"mirror": "busy"}
    try:
        return _Mirror(services, config.integration_key).run()
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            pass  # expired while the run worked; the next run simply takes it again


def _iso(value: datetime) -> str:
    return value.replace(tzinfo=UTC).isoformat()


def _chunks(rows: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


@dataclass
class _Mirror:
    services: Services
    integration_key: str
    t0: float = field(default_factory=time.monotonic)
    #: Lime requests this run made (the client's own retries of one request not counted)
    requests: int = 0
    writes: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("batches_created", "batches_updated", "logs_created", "logs_updated"), 0))
    error: str = ""

    @property
    def db(self) -> Database:
        return self.services.db

    def run(self) -> dict[str, Any]:
        try:
            self._resolve_in_flight(MonitorBatch, BATCH)
            self._create_batches()
            self._resolve_in_flight(MonitorLog, LOG)
            self._push_logs()
            self._update_batches()
        except Exception as exc:  # Lime down or refusing, the run out of time: the next run goes on from here
            self.error = f"{type(exc).__name__}: {exc}"[:2000]
            # A deleted integration_monitor record is one cause; reading it again costs a request per failed run.
            _monitor_ids.pop((self.services.settings.lime.base_url, self.integration_key), None)
            if isinstance(exc, LimeApiError):
                log.warning("mirroring the integration monitor into Lime stopped: %s", self.error)
            else:  # not Lime's answer: the traceback is what an operator needs
                log.exception("mirroring the integration monitor into Lime stopped: %s", self.error)
        lag_s, pending = backlog(self.db)
        LAG.set(lag_s)
        summary: dict[str, Any] = {**self.counts, "lime_requests": self.requests, "pending": pending,
                                   "lag_s": round(lag_s, 1)}
        _record_run(self.db, summary, self.error, quiet=not (self.writes or self.error or pending))
        if self.error:
            summary["error"] = self.error
        return summary

    # -- Lime ------------------------------------------------------------------------------------------
    def _room(self) -> int:
        if time.monotonic() - self.t0 > RUN_BUDGET_S:
            return 0
        return max(0, MAX_WRITES_PER_RUN - self.writes)

    def _monitor_id(self) -> int:
        cache_key = (self.services.settings.lime.base_url, self.integration_key)
        cached = _monitor_ids.get(cache_key)
        if cached is not None:
            return cached
        self.requests += 1
        found = list(self.services.lime.query(MONITOR, ["_id"], {"key": "integration_key", "op": "=",
                                                                 "exp": self.integration_key}, limit=1))
        if found:
            monitor_id = int(found[0]["_id"])
        else:
            monitor_id = self._create(MONITOR, {"name": MONITOR_NAME, "integration_key": self.integration_key,
                                                "type": "batch", "active": True})
            log.info("created Lime integration_monitor %s for integration key %s", monitor_id, self.integration_key)
        _monitor_ids[cache_key] = monitor_id
        return monitor_id

    def _create(self, limetype: str, values: dict[str, Any]) -> int:
        self.requests += 1
        created = self.services.lime.create(limetype, values)
        lime_id = created.get("_id")
        if isinstance(lime_id, bool) or not isinstance(lime_id, int) or lime_id <= 0:
            raise LimeApiError(f"Lime answered the create of a {limetype} without its _id")
        return lime_id

    def _update(self, limetype: str, lime_id: int, values: dict[str, Any]) -> None:
        self.requests += 1
        self.services.lime.update(limetype, lime_id, values)

    # -- steps -----------------------------------------------------------------------------------------
    def _resolve_in_flight(self, model: type[MonitorBatch] | type[MonitorLog], limetype: str) -> None:
        """Rows whose create was sent without its answer being recorded: adopt what Lime has, send the rest."""
        with self.db.session() as session:
            ids = list(session.scalars(select(model.id).where(model.lime_id == LimeMirror.IN_FLIGHT)
                                       .order_by(model.id).limit(MAX_WRITES_PER_RUN)))
        if not ids:
            return
        monitor_id = self._monitor_id()
        self.requests += 1
        found = {str(row.get("externalid")): int(row["_id"]) for row in self.services.lime.query(
            limetype, ["_id", "externalid"],
            {"op": "AND", "exp": [{"key": "integration_monitor", "op": "=", "exp": monitor_id},
                                  {"key": "externalid", "op": "IN", "exp": [str(i) for i in ids]}]})}
        table = model.__table__
        with self.db.session() as session:
            # Adopted rows stay unsynced, so they are updated below with what the row holds now.
            session.connection().execute(
                update(table).where(table.c.id == bindparam("row_id"))
                .values(lime_id=bindparam("found_id"), updated_at=table.c.updated_at),
                [{"row_id": i, "found_id": found.get(str(i))} for i in ids])
        log.info("%s: %s of %s interrupted creates found in Lime", limetype, len(found), len(ids))

    def _create_batches(self) -> None:
        with self.db.session() as session:
            batches = session.scalars(
                select(MonitorBatch).where(MonitorBatch.lime_synced_at.is_(None), MonitorBatch.lime_id.is_(None),
                                           or_(MonitorBatch.started.is_(True),
                                               MonitorBatch.status != MonitorStatus.RUNNING))
                .order_by(MonitorBatch.id).limit(self._room())).all()
            counts = _log_counts(session, [b.id for b in batches])
        if not batches:
            return
        monitor_id = self._monitor_id()
        self._create_rows(MonitorBatch, BATCH, batches,
                          lambda b: {**_batch_values(b, counts.get(b.id, {})), "integration_monitor": monitor_id,
                                     "externalid": str(b.id), "title": b.title, "operation": b.operation,
                                     "starttime": _iso(b.created_at)})
        self.counts["batches_created"] += len(batches)

    def _push_logs(self) -> None:
        with self.db.session() as session:
            rows = session.execute(
                select(MonitorLog, MonitorBatch.lime_id)
                .join(MonitorBatch, MonitorLog.batch_id == MonitorBatch.id)
                .where(MonitorLog.lime_synced_at.is_(None), MonitorLog.status.in_(FINISHED),
                       MonitorBatch.lime_id > 0,
                       or_(MonitorLog.lime_id.is_(None), MonitorLog.lime_id > 0))
                .order_by(MonitorLog.id).limit(self._room())).all()
        if not rows:
            return
        monitor_id = self._monitor_id()
        batch_of = {entry.id: int(batch_lime_id) for entry, batch_lime_id in rows}
        new = [entry for entry, _ in rows if entry.lime_id is None]
        changed = [entry for entry, _ in rows if entry.lime_id is not None]
        self._create_rows(MonitorLog, LOG, new,
                          lambda e: {**_log_values(e), "integration_monitor": monitor_id,
                                     "integration_monitor_batch": batch_of[e.id], "externalid": str(e.id),
                                     "operation": e.operation, "limetype": e.limetype,
                                     **({"objectid": int(e.object_id)} if e.object_id.isdigit() else {}),
                                     "starttime": _iso(e.created_at)})
        self.counts["logs_created"] += len(new)
        self._update_rows(MonitorLog, LOG, changed, _log_values)
        self.counts["logs_updated"] += len(changed)

    def _update_batches(self) -> None:
        # After its logs: a batch that says "ok, 500 objects" in Lime has its 500 logs there too.
        with self.db.session() as session:
            unsent_log = exists().where(MonitorLog.batch_id == MonitorBatch.id, MonitorLog.lime_synced_at.is_(None),
                                        MonitorLog.status.in_(FINISHED))
            batches = session.scalars(
                select(MonitorBatch).where(MonitorBatch.lime_synced_at.is_(None), MonitorBatch.lime_id > 0,
                                           MonitorBatch.status != MonitorStatus.RUNNING, ~unsent_log)
                .order_by(MonitorBatch.id).limit(self._room())).all()
            counts = _log_counts(session, [b.id for b in batches])
        self._update_rows(MonitorBatch, BATCH, batches, lambda b: _batch_values(b, counts.get(b.id, {})))
        self.counts["batches_updated"] += len(batches)

    # -- sending rows ----------------------------------------------------------------------------------
    def _create_rows(self, model: type[MonitorBatch] | type[MonitorLog], limetype: str,
                     rows: Sequence[Any], values_of: Any) -> None:
        table = model.__table__
        for chunk in _chunks(rows, CHUNK):
            if not self._room():
                return
            ids = [row.id for row in chunk]
            # In flight before anything is sent: a worker killed between Lime's answer and the record below
            # leaves rows the next run looks up in Lime instead of creating twice.
            with self.db.session() as session:
                session.execute(update(table).where(table.c.id.in_(ids), table.c.lime_id.is_(None))
                                .values(lime_id=LimeMirror.IN_FLIGHT, updated_at=table.c.updated_at))
            done: list[tuple[int, int, datetime]] = []
            attempted = 0
            try:
                for row in chunk:
                    attempted += 1
                    done.append((row.id, self._create(limetype, values_of(row)), row.updated_at))
                    self.writes += 1
            finally:
                # The one that failed stays in flight (Lime may have stored it); the rest were never sent.
                untried = ids[attempted:]
                self._record(model, done, untried)

    def _update_rows(self, model: type[MonitorBatch] | type[MonitorLog], limetype: str,
                     rows: Sequence[Any], values_of: Any) -> None:
        done: list[tuple[int, int, datetime]] = []
        try:
            for row in rows:
                if not self._room():
                    return
                self._update(limetype, int(row.lime_id), values_of(row))
                done.append((row.id, int(row.lime_id), row.updated_at))
                self.writes += 1
        finally:
            self._record(model, done, [])

    def _record(self, model: type[MonitorBatch] | type[MonitorLog], done: Iterable[tuple[int, int, datetime]],
                untried: Sequence[int]) -> None:
        table = model.__table__
        sent = [{"row_id": row_id, "sent_id": lime_id, "seen": seen, "now": utcnow()}
                for row_id, lime_id, seen in done]
        with self.db.session() as session:
            if sent:
                # Synced only if the row is still what was sent: one changed meanwhile (a log finished again)
                # stays unsynced and goes out on the next run. updated_at is kept: it is the row's, not ours.
                session.connection().execute(
                    update(table).where(table.c.id == bindparam("row_id"))
                    .values(lime_id=bindparam("sent_id"),
                            lime_synced_at=case((table.c.updated_at == bindparam("seen", type_=DateTime()),
                                                 bindparam("now", type_=DateTime())), else_=None),
                            updated_at=table.c.updated_at),
                    sent)
            if untried:
                session.execute(update(table).where(table.c.id.in_(untried),
                                                    table.c.lime_id == LimeMirror.IN_FLIGHT)
                                .values(lime_id=None, updated_at=table.c.updated_at))


def _batch_values(batch: MonitorBatch, counts: dict[str, int]) -> dict[str, Any]:
    """What a batch changes in Lime when it settles (and has from the start)."""
    values: dict[str, Any] = {"status": batch.status, "message": batch.message, "totalcount": batch.total,
                              "okcount": counts.get(MonitorStatus.OK, 0),
                              "errorcount": counts.get(MonitorStatus.ERROR, 0)}
    if batch.ended_at is not None:
        values["endtime"] = _iso(batch.ended_at)
    return values


def _log_values(entry: MonitorLog) -> dict[str, Any]:
    """What a log changes in Lime when it finishes (again)."""
    return {"status": entry.status, "message": entry.message, "attempts": entry.attempts,
            "endtime": _iso(entry.updated_at)}


def _log_counts(session: Session, batch_ids: list[int]) -> dict[int, dict[str, int]]:
    if not batch_ids:
        return {}
    counts: dict[int, dict[str, int]] = {}
    for batch_id, status, n in session.execute(
            select(MonitorLog.batch_id, MonitorLog.status, func.count())
            .where(MonitorLog.batch_id.in_(batch_ids)).group_by(MonitorLog.batch_id, MonitorLog.status)):
        counts.setdefault(int(batch_id), {})[str(status)] = int(n)
    return counts


def backlog(db: Database, now: datetime | None = None) -> tuple[float, int]:
    """(seconds since the oldest change Lime lacks, how many rows wait): what the mirror is behind by."""
    now = now or utcnow()
    batch_waits = and_(MonitorBatch.lime_synced_at.is_(None), or_(
        and_(or_(MonitorBatch.lime_id.is_(None), MonitorBatch.lime_id == LimeMirror.IN_FLIGHT),
             or_(MonitorBatch.started.is_(True), MonitorBatch.status != MonitorStatus.RUNNING)),
        and_(MonitorBatch.lime_id > 0, MonitorBatch.status != MonitorStatus.RUNNING)))
    # Logs of batches mirrored or about to be; not those of history that was never mirrored.
    log_waits = and_(MonitorLog.lime_synced_at.is_(None), MonitorLog.status.in_(FINISHED),
                     or_(MonitorBatch.lime_id.is_not(None), MonitorBatch.lime_synced_at.is_(None)))
    with db.session() as session:
        batches, oldest_batch = session.execute(
            select(func.count(), func.min(MonitorBatch.updated_at)).where(batch_waits)).one()
        logs, oldest_log = session.execute(
            select(func.count(), func.min(MonitorLog.updated_at))
            .join(MonitorBatch, MonitorLog.batch_id == MonitorBatch.id).where(log_waits)).one()
    oldest = min((t for t in (oldest_batch, oldest_log) if t is not None), default=None)
    lag = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return lag, int(batches or 0) + int(logs or 0)


def _record_run(db: Database, summary: dict[str, Any], error: str, *, quiet: bool) -> None:
    """The day's job_run row: what was sent today, what waits, the last error. Idle runs leave it alone."""
    run_key = utcnow().date().isoformat()
    with db.session() as session:
        run = session.scalars(select(JobRun).where(JobRun.job == JOB, JobRun.run_key == run_key)).first()
        if quiet and (run is None or run.status != "error"):
            return
        if run is None:
            run = JobRun(job=JOB, run_key=run_key, counts={}, cursor="", message="")
            session.add(run)
        totals = dict(run.counts or {})
        for name in ("batches_created", "batches_updated", "logs_created", "logs_updated", "lime_requests"):
            totals[name] = int(totals.get(name, 0)) + int(summary.get(name, 0))
        totals["failed_runs"] = int(totals.get("failed_runs", 0)) + (1 if error else 0)
        totals["pending"], totals["lag_s"] = summary["pending"], summary["lag_s"]
        run.counts = totals
        run.status = "error" if error else "ok"
        run.message = error
        run.ended_at = utcnow()
