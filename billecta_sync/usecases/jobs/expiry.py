"""Nightly: sent or partly paid Lime invoices past their due date become ``expired``.

Billecta has no "expired" stage, so Lime is the only place it lives (invoice_status keeps it while
Billecta still says sent). The job is one ``job_run`` row per day: a second run the same day does
nothing, and a run that died part-way resumes after the last invoice id it finished (``cursor``).

Candidates are found with the query API (the filter does the work, only ids come back), one page
at a time; each page is updated through REST by a small thread pool. Every Lime request still takes a
slot of the shared rate limiter, so the pool only hides latency, it cannot exceed the limit.

A payment event may be applied between the page query and the update. Each update therefore takes the
invoice's lock (the one event handlers hold while they write it), and an invoice a handler wrote since
the page was read is read again and left alone unless it is still sent or partly paid — so the job never
turns a just-paid invoice into an expired one, and spends the extra read only in that case.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from billecta_sync import days
from billecta_sync.container import Services
from billecta_sync.db import JobRun, utcnow
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.locks import object_lock
from billecta_sync.usecases.billecta_to_lime.invoice_state import written_since
from billecta_sync.usecases.common import option_key

log = logging.getLogger(__name__)

JOB = "set_invoices_as_expired"
# Reminder invoices (Lime invoices with ``reminderof`` set) expire too, on purpose: they carry their own
# due date in invoice_expires, and reminders.reminder_status keeps the mark until Billecta closes them.
EXPIRING = ("sent", "subpaid")
PAGE_SIZE = 500
WORKERS = 4


def candidates_filter(repo: LimeRepo, today: date, after_id: int) -> dict[str, Any]:
    mapping = repo.mappings["invoice"]
    return {"op": "AND", "exp": [
        {"key": mapping.prop("invoice_expires"), "op": "<", "exp": today.isoformat()},
        repo.filter_in("invoice", "invoicestatus", list(EXPIRING)),
        {"key": "_id", "op": ">", "exp": after_id},
    ]}


def _start_run(services: Services, run_key: str) -> tuple[int, str, dict[str, int], int] | None:
    """(run id, status, counts, cursor) of today's run, created when missing."""
    with services.db.session() as session:
        run = session.scalars(select(JobRun).where(JobRun.job == JOB, JobRun.run_key == run_key)).first()
        if run is None:
            run = JobRun(job=JOB, run_key=run_key, status="running", counts={}, cursor="0")
            session.add(run)
            try:
                session.flush()
            except IntegrityError:
                return None  # another worker created it this instant; it does the work
        return run.id, run.status, dict(run.counts or {}), int(run.cursor or 0)


def _save(services: Services, run_id: int, counts: dict[str, int], cursor: int, status: str = "running",
          message: str = "") -> None:
    with services.db.session() as session:
        run = session.get(JobRun, run_id)
        if run is None:
            return
        run.counts, run.cursor, run.status, run.message = dict(counts), str(cursor), status, message
        if status != "running":
            run.ended_at = utcnow()


def set_invoices_as_expired(services: Services, today: date | None = None,
                            progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    today = today or days.today()
    say = progress or log.info
    run_key = today.isoformat()
    with object_lock(services.redis, f"job:{JOB}", timeout_s=3600, wait_s=1):
        started = _start_run(services, run_key)
        if started is None:
            return {"run_key": run_key, "status": "running elsewhere"}
        run_id, status, counts, cursor = started
        if status == "ok":
            say(f"{JOB} {run_key}: already done ({counts})")
            return {"run_key": run_key, "status": "already done", **counts}
        counts = {"candidates": counts.get("candidates", 0), "expired": counts.get("expired", 0),
                  "failed": counts.get("failed", 0), "skipped": counts.get("skipped", 0)}
        repo = LimeRepo(services.lime, services.mappings)
        mapping = repo.mappings["invoice"]
        limetype, status_prop, action_prop = mapping.limetype, mapping.prop("invoicestatus"), mapping.prop(
            "actionpublicid")
        if cursor:
            say(f"{JOB} {run_key}: resuming after invoice {cursor}")

        def expire(candidate: tuple[int, str, float]) -> str:
            invoice_id, action, read_at = candidate
            try:
                with object_lock(services.redis, f"invoice:{action or invoice_id}",
                                 timeout_s=services.settings.worker.lock_timeout_s):
                    if written_since(services.redis, invoice_id, read_at):
                        fresh = repo.get("invoice", invoice_id)
                        if option_key(fresh.get("invoicestatus")) not in EXPIRING:
                            return "skipped"  # paid (or otherwise settled) since the page was read
                    services.lime.update(limetype, invoice_id, {status_prop: "expired"})
                return "expired"
            except Exception as exc:  # one bad invoice must not stop the night's run
                log.warning("%s: invoice %s not updated: %s", JOB, invoice_id, exc)
                return "failed"

        with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="expiry") as pool:
            while True:
                read_at = time.time()
                page = [(int(row["_id"]), str(row.get(action_prop) or ""), read_at) for row in services.lime.query(
                    limetype, ["_id", action_prop], filter=candidates_filter(repo, today, cursor),
                    order_by=[{"_id": "ASC"}], limit=PAGE_SIZE, page_size=PAGE_SIZE)]
                if not page:
                    break
                results = list(pool.map(expire, page))
                counts["candidates"] += len(page)
                for outcome in ("expired", "failed", "skipped"):
                    counts[outcome] += results.count(outcome)
                cursor = page[-1][0]  # failures stay behind the cursor; tomorrow's run picks them up again
                _save(services, run_id, counts, cursor)
                say(f"{JOB} {run_key}: {counts['expired']} expired, {counts['skipped']} paid meanwhile, "
                    f"{counts['failed']} failed (up to invoice {cursor})")
        _save(services, run_id, counts, cursor, status="ok",
              message=f"{counts['expired']} invoice(s) set as expired")
        say(f"{JOB} {run_key}: done, {counts}")
        return {"run_key": run_key, "status": "ok", **counts}
