"""What every report checks before it reads anything: the creditor, the dates, the file format."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from billecta_sync import monitor
from billecta_sync.container import Services
from billecta_sync.db import MonitorStatus
from billecta_sync.errors import InvalidRequest, ObjectNotFound
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.reports.model import FILE_FORMATS, Progress
from billecta_sync.usecases.common import text

log = logging.getLogger("billecta_sync.reports")
#: rows between two progress log lines
PROGRESS_EVERY = 1000


class NotFound(ObjectNotFound):
    """A 404 that names the request field holding the missing id."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Creditor:
    id: int
    name: str
    public_id: str


def parse_date(value: Any, field: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except (TypeError, ValueError):
        raise InvalidRequest(f"{field} must be a date YYYY-MM-DD, not {value!r}", field) from None


def check_format(file_format: Any) -> str:
    if file_format not in FILE_FORMATS:
        raise InvalidRequest(f"file_format must be one of {', '.join(FILE_FORMATS)}, not {file_format!r}",
                             "file_format")
    return str(file_format)


def check_period(from_date: Any, to_date: Any, from_field: str = "from_date",
                 to_field: str = "to_date") -> tuple[date, date]:
    start, end = parse_date(from_date, from_field), parse_date(to_date, to_field)
    if start > end:
        raise InvalidRequest(f"{from_field} {start} is after {to_field} {end}", from_field)
    return start, end


def creditor(services: Services, creditor_id: int, field: str = "idcreditor") -> Creditor:
    """The Lime creditor and its Billecta id; 404 naming ``field`` when either is missing."""
    found = LimeRepo(services.lime, services.mappings).get_or_none("creditor", int(creditor_id))
    public_id = text((found or {}).get("creditorpublicid"))
    if found is None or not public_id:
        raise NotFound(f"{field}: creditor {creditor_id} not found or missing Billecta creditor ID", field)
    return Creditor(int(creditor_id), text(found.get("name")) or public_id, public_id)


def progress_logger(what: str, services: Services | None = None, creditor_id: int | None = None) -> Progress:
    """A ``Progress`` that logs a line every ``PROGRESS_EVERY`` rows and at the end; with ``services``, a large
    report (more than ``PROGRESS_EVERY`` rows) also shows in the integration monitor: a batch of its own with
    one log for the creditor whose message counts the rows built, ok when all are."""
    log_id: list[int] = []

    def report(done: int, total: int) -> None:
        if not (done == total or done % PROGRESS_EVERY == 0):
            return
        log.info("%s: %d of %d rows", what, done, total)
        if services is None or total <= PROGRESS_EVERY:
            return
        try:
            if not log_id:
                batch = monitor.create_batch(services.db, f"Report: {what}"[:200], "report",
                                             params={"limetype": "creditor"})
                log_id.extend(i for i, _ in monitor.add_logs(services.db, batch, "report", "creditor",
                                                             [creditor_id or 0]))
                monitor.mark_batch_started(services.db, batch, 1)
            if done == total:
                monitor.log_finished(services.db, log_id[0], MonitorStatus.OK, f"{total} rows built")
                monitor.settle_batch_of_log(services.db, log_id[0])
            else:
                monitor.log_note(services.db, log_id[0], f"{done} of {total} rows built")
        except Exception:  # progress is a courtesy: never fail the report over it
            log.warning("could not record the progress of %s in the monitor", what, exc_info=True)

    return report
