"""``report-creator``: a report of ``definitions`` about one Lime object, stored as a Lime document."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from billecta_sync import days
from billecta_sync.container import Services
from billecta_sync.errors import InvalidRequest
from billecta_sync.lime.values import option_key
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.reports import accounts_receivable, store
from billecta_sync.reports.common import NotFound, check_format, check_period, creditor, progress_logger
from billecta_sync.reports.definitions import DEFINITIONS, ReportDefinition
from billecta_sync.reports.model import Report, Table, day, minor_from_major
from billecta_sync.usecases.common import text


def _cell(value: Any, kind: str) -> Any:
    if kind == "money":
        return minor_from_major(value)
    if kind == "date":
        return day(value)
    if kind == "int":
        return int(value) if value not in (None, "") else None
    if isinstance(value, dict):
        return option_key(value) or ""
    return text(value)


def _lime_rows(services: Services, d: ReportDefinition, object_id: int, start: date | None,
               end: date | None) -> list[dict[str, Any]]:
    repo = LimeRepo(services.lime, services.mappings)
    rows = []
    for obj in repo.find(d.limetype, {d.relation: object_id}):
        dated = day(obj.get(d.date_property)) if d.date_property else None
        if d.date_property and (start or end) and (
                dated is None or (start and dated < start) or (end and dated > end)):
            continue
        rows.append({c.key: _cell(obj.get(c.key), c.kind) for c in d.columns})
    return rows


def report_creator(services: Services, config_key: str, limetype: str, idlimeobject: int,
                   file_format: str = "xlsx", date_from: str | None = None,
                   date_to: str | None = None) -> dict[str, Any]:
    d = DEFINITIONS.get(config_key)
    if d is None:
        raise InvalidRequest(f"config_key: no report configuration {config_key!r} (known: "
                             f"{', '.join(DEFINITIONS)})", "config_key")
    if limetype != d.about:
        raise InvalidRequest(f"limetype: report {config_key!r} is about a {d.about}, not {limetype!r}", "limetype")
    fmt = check_format(file_format)
    start = end = None
    if date_from and date_to:
        start, end = check_period(date_from, date_to, "date_from", "date_to")
    elif date_from or date_to:
        start, end = check_period(date_from or date_to, date_to or date_from, "date_from", "date_to")
    who = creditor(services, idlimeobject, "idlimeobject")
    if who.id != int(idlimeobject):  # pragma: no cover - creditor() looks the same id up
        raise NotFound("idlimeobject: not found", "idlimeobject")
    if d.source == "billecta_ar":
        at = end or days.today()
        source = accounts_receivable.rows_of(accounts_receivable.outstanding(services, who.public_id, at), at,
                                             progress_logger(f"report {config_key}", services, who.id))
        rows: list[dict[str, Any]] = [{c.key: r.get(c.key) for c in d.columns} for r in source]
        period = f"at {at.isoformat()}"
    else:
        rows = _lime_rows(services, d, who.id, start, end)
        period = f"{start.isoformat()} to {end.isoformat()}" if start and end else "all dates"
    table = Table(d.title, d.columns, rows)
    report = Report(config_key.replace("_", "-"), d.title, f"{who.name} ({who.public_id})", period,
                    datetime.now(UTC), summary=[(f"Total {c.title.lower()}", v) for c, v in
                                                zip([c for c in d.columns if c.total and c.kind == "money"],
                                                    [table.totals()[c.key] for c in d.columns
                                                     if c.total and c.kind == "money"], strict=True)],
                    tables=[table])
    return store.store(services, report, fmt, who.id, f"{config_key}, {period}, {fmt}")
