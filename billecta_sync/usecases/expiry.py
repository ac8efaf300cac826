"""Nightly: sent or partly paid Lime invoices past their due date become ``expired``.

Billecta has no "expired" stage, so Lime is the only place it lives (invoice_status keeps it while
Billecta still says sent). The job is one ``job_run`` row per day: a second run the same day does
nothing, and a run that died part-way resumes after the last invoice id it finished (``cursor``).

Candidates are found with the query API (the filter does the work, only ``_id`` comes back), one page
at a time; each page is updated through REST by a small thread pool. Every Lime request still takes a
slot of the shared rate limiter, so the pool only hides latency, it cannot exceed the limit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from billecta_sync.container import Services
from billecta_sync.db import JobRun, utcnow
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.locks import object_lock

log = logging.getLogger(__name__)

JOB = "set_invoices_as_expired"
EXPIRING = ("sent", "subpaid")
PAGE_SIZE = 500
WORKERS = 4


def candidates_filter(repo: LimeRepo, today: date, after_id: int) -> dict[str, Any]:
    mapping = repo.mappings["invoice"]
    return {"op": "AND", "exp": [
        {"key": mapping.prop("invoice_expires"), "op": "<", "exp": today.isoformat()},
        {"key": mapping.prop("invoicestatus"), "op": "IN", "exp": list(EXPIRING)},
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
    today = today or date.today()
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
                  "failed": counts.get("failed", 0)}
        repo = LimeRepo(services.lime, services.mappings)
        limetype = repo.mappings["invoice"].limetype
        status_prop = repo.mappings["invoice"].prop("invoicestatus")
        if cursor:
            say(f"{JOB} {run_key}: resuming after invoice {cursor}")

        def expire(invoice_id: int) -> bool:
            try:
                services.lime.update(limetype, invoice_id, {status_prop: "expired"})
                return True
            except Exception as exc:  # one bad invoice must not stop the night's run
                log.warning("%s: invoice %s not updated: %s", JOB, invoice_id, exc)
                return False

        with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="expiry") as pool:
            while True:
                page = [int(row["_id"]) for row in services.lime.query(
                    limetype, ["_id"], filter=candidates_filter(repo, today, cursor),
                    order_by=[{"_id": "ASC"}], limit=PAGE_SIZE, page_size=PAGE_SIZE)]
                if not page:
                    break
                results = list(pool.map(expire, page))
                counts["candidates"] += len(page)
                counts["expired"] += sum(results)
                counts["failed"] += len(results) - sum(results)
                cursor = page[-1]  # failures stay behind the cursor; tomorrow's run picks them up again
                _save(services, run_id, counts, cursor)
                say(f"{JOB} {run_key}: {counts['expired']} expired, {counts['failed']} failed "
                    f"(up to invoice {cursor})")
        _save(services, run_id, counts, cursor, status="ok",
              message=f"{counts['expired']} invoice(s) set as expired")
        say(f"{JOB} {run_key}: done, {counts}")
        return {"run_key": run_key, "status": "ok", **counts}
