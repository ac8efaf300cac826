"""Prepaid payments at a date: overpayments and advance (unmatched) payments Billecta holds for a creditor,
per debtor. Billecta's unhandled payments of the creditor (``payments.unhandled.list``, path partly
verified), those paid on or before the date."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from billecta_sync.container import Services
from billecta_sync.reports import store
from billecta_sync.reports.common import Creditor, check_format, creditor, parse_date
from billecta_sync.reports.model import Column, Report, Table, day, minor
from billecta_sync.usecases.common import text

KINDS = {"OverPayment": "Overpayment", "UnmatchedPayment": "Advance payment"}
COLUMNS = (Column("debtor", "Debtor"), Column("payment_date", "Payment date", "date"), Column("kind", "Type"),
           Column("reference", "Reference"), Column("invoice_number", "Overpaid invoice"),
           Column("amount", "Amount", "money", total=True))
DEBTOR_COLUMNS = (Column("debtor", "Debtor"), Column("count", "Payments", "int", total=True),
                  Column("amount", "Amount", "money", total=True))
NO_DEBTOR = "(unknown payer)"


def build(services: Services, who: Creditor, at: date) -> Report:
    unhandled = services.billecta.call("payments.unhandled.list", {"creditor_public_id": who.public_id}) or []
    names: dict[str, str] = {}
    rows = []
    for item in unhandled:
        paid_on = day(item.get("PaymentDate"))
        if not isinstance(item, dict) or paid_on is None or paid_on > at:
            continue
        debtor_id = text(item.get("DebtorPublicId"))
        if debtor_id and debtor_id not in names:
            names[debtor_id] = text(services.billecta.get_debtor(debtor_id).get("Name")) or debtor_id
        kind = text(item.get("UnhandledPaymentType"))
        rows.append({"debtor": names.get(debtor_id, NO_DEBTOR), "payment_date": paid_on,
                     "kind": KINDS.get(kind, kind), "reference": text(item.get("Reference")),
                     "invoice_number": text((item.get("OverpaymentDetails") or {}).get("InvoiceNumber")),
                     "amount": minor(item.get("Amount"))})
    rows.sort(key=lambda r: (r["debtor"], r["payment_date"]))
    per_debtor: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = per_debtor.setdefault(row["debtor"], {"debtor": row["debtor"], "count": 0, "amount": 0})
        entry["count"] += 1
        entry["amount"] += row["amount"]
    over = sum(r["amount"] for r in rows if r["kind"] == KINDS["OverPayment"])
    advance = sum(r["amount"] for r in rows if r["kind"] != KINDS["OverPayment"])
    return Report("prepaid-payments", "Prepaid payments", f"{who.name} ({who.public_id})", f"at {at.isoformat()}",
                  datetime.now(UTC), summary=[("Overpayments", over), ("Advance payments", advance),
                                              ("Total prepaid", over + advance)],
                  tables=[Table("Per debtor", DEBTOR_COLUMNS, list(per_debtor.values())),
                          Table("Payments", COLUMNS, rows)])


def prepaid_payments_report(services: Services, idcreditor: int, report_date: str,
                            file_format: str = "xlsx") -> dict[str, Any]:
    fmt = check_format(file_format)
    at = parse_date(report_date, "date")
    who = creditor(services, idcreditor)
    return store.store(services, build(services, who, at), fmt, who.id, f"date {at.isoformat()}, {fmt}")
