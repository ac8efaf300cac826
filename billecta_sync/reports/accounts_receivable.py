"""Accounts receivable (kundreskontra) at a date: every open invoice with its debtor, dates, invoiced and
remaining amounts and days overdue, and the aging summary. One Billecta request: the AR age analysis
(``analysis.age_receivables``), which answers the remaining amount at the date itself."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from billecta_sync.container import Services
from billecta_sync.reports import aging, store
from billecta_sync.reports.common import Creditor, check_format, creditor, parse_date, progress_logger
from billecta_sync.reports.model import Column, Progress, Report, Table, day, minor
from billecta_sync.usecases.common import text

COLUMNS = (
    Column("debtor", "Debtor"), Column("invoice_number", "Invoice number"),
    Column("invoice_date", "Invoice date", "date"), Column("due_date", "Due date", "date"),
    Column("invoiced", "Invoiced", "money", total=True), Column("remaining", "Remaining", "money", total=True),
    Column("days_overdue", "Days overdue", "int"), Column("bucket", "Aging"),
)
BUCKET_COLUMNS = (Column("bucket", "Aging"), Column("count", "Invoices", "int", total=True),
                  Column("remaining", "Remaining", "money", total=True))


def outstanding(services: Services, public_id: str, at: date, *, exclude_outside_period: bool = False,
                is_period_specific: bool = False) -> list[dict[str, Any]]:
    answer = services.billecta.call("analysis.age_receivables", {"creditor_public_id": public_id}, query={
        "date": at, "excludeInvoicesWithPeriodOutsideDate": exclude_outside_period,
        "showOnlyFinancedInvoices": False, "isPeriodSpecific": is_period_specific})
    return [row for row in answer or [] if isinstance(row, dict)]


def rows_of(outstanding_invoices: list[dict[str, Any]], at: date, progress: Progress | None = None
            ) -> list[dict[str, Any]]:
    rows = []
    total = len(outstanding_invoices)
    for n, item in enumerate(outstanding_invoices, start=1):
        due = day(item.get("DueDate")) or at
        overdue = aging.days_overdue(due, at)
        rows.append({
            "debtor": text((item.get("Debtor") or {}).get("Name")), "invoice_number": text(item.get("InvoiceNumber")),
            "action_public_id": text(item.get("ActionPublicId")),
            "invoice_date": day(item.get("InvoiceDate")), "due_date": due,
            "invoiced": minor(item.get("InvoicedAmountIncludingTax")),
            "remaining": minor(item.get("RemainingAmountIncludingTax")),
            "days_overdue": overdue, "bucket": aging.label(aging.bucket_of(overdue)),
            "currency": text((item.get("RemainingAmountIncludingTax") or {}).get("CurrencyCode")) or "SEK",
        })
        if progress is not None and (n % 1000 == 0 or n == total):
            progress(n, total)
    rows.sort(key=lambda r: (r["debtor"], r["due_date"], r["invoice_number"]))
    return rows


def build(services: Services, who: Creditor, at: date, *, exclude_outside_period: bool = False,
          is_period_specific: bool = False, progress: Progress | None = None) -> Report:
    rows = rows_of(outstanding(services, who.public_id, at, exclude_outside_period=exclude_outside_period,
                               is_period_specific=is_period_specific), at, progress)
    buckets = aging.summarize(rows)
    bucket_rows = [{"bucket": aging.label(key), "count": n, "remaining": amount} for key, (n, amount)
                   in buckets.items()]
    invoiced = sum(r["invoiced"] for r in rows)
    remaining = sum(r["remaining"] for r in rows)
    report = Report(
        "accounts-receivable", "Accounts receivable", f"{who.name} ({who.public_id})", f"at {at.isoformat()}",
        datetime.now(UTC), currency=rows[0]["currency"] if rows else "SEK",
        summary=[("Invoiced (open invoices)", invoiced), ("Remaining", remaining),
                 *[(f"Remaining, {aging.label(k)}", amount) for k, (_n, amount) in buckets.items()]],
        tables=[Table("Aging summary", BUCKET_COLUMNS, bucket_rows), Table("Open invoices", COLUMNS, rows)])
    return report


def account_receivables_report(services: Services, idcreditor: int, report_date: str,
                               exclude_invoices_with_period_outside_date: bool = False,
                               is_period_specific: bool = False, file_format: str = "xlsx") -> dict[str, Any]:
    """The report stored as a Lime document; ``{"iddocument", ...}``."""
    fmt = check_format(file_format)
    at = parse_date(report_date, "date")
    who = creditor(services, idcreditor)
    report = build(services, who, at, exclude_outside_period=bool(exclude_invoices_with_period_outside_date),
                   is_period_specific=bool(is_period_specific),
                   progress=progress_logger("accounts receivable", services, who.id))
    params = (f"date {at.isoformat()}, exclude outside period {bool(exclude_invoices_with_period_outside_date)}, "
              f"period specific {bool(is_period_specific)}, {fmt}")
    return store.store(services, report, fmt, who.id, params)
