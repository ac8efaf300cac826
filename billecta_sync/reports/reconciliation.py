"""Account reconciliation for a period: opening balance, the movements (invoiced, paid, credited, written
off), the closing balance, and where Lime and Billecta disagree.

Billecta: the creditor's open invoices and those closed since the period began (``invoice.open_by_creditor``,
``invoice.closed``), each selected invoice read once (``invoice.get``: its paid, credited and written-off
totals), and the incoming payments of the period (``payments.incoming``). Lime: the creditor's invoices and
payments through the query API (paged). ``date_selection_type`` decides what falls in the period:
``invoice_date``: invoices dated in it, with everything booked on them; ``payment_date`` — invoiced
amounts by invoice date, payments by their payment date (credits and write-offs by the invoice date, as
Billecta lists no dated single operations for them).

Discrepancies: invoices in Billecta and not in Lime (by ``actionpublicid``), invoices in Lime (dated in the
period) and not in Billecta, amount differences (invoiced or remaining), status differences (closed in one,
open in the other) and Billecta payments of the period with no Lime ``payment`` (by ``paymentbillectaid``).
The ``account`` is shown on the report; Billecta's lists carry no ledger account to filter on.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from billecta_sync.container import Services
from billecta_sync.errors import InvalidRequest
from billecta_sync.lime.values import option_key
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.reports import store
from billecta_sync.reports.common import Creditor, check_format, check_period, creditor, progress_logger
from billecta_sync.reports.model import Column, Progress, Report, Table, day, minor, minor_from_major
from billecta_sync.usecases.billecta_to_lime.invoice_state import credited_invoice_id
from billecta_sync.usecases.common import text

DATE_SELECTION_TYPES = ("invoice_date", "payment_date")
CLOSED_STAGES = frozenset({"Completed", "Cancelled"})
LIME_CLOSED = frozenset({"paid", "credited", "cancelled"})
NOT_PAYMENTS = frozenset({"CREDIT", "WRITEOFF"})

MOVEMENT_COLUMNS = (Column("invoice_number", "Invoice number"), Column("debtor", "Debtor"),
                    Column("invoice_date", "Invoice date", "date"), Column("stage", "Billecta stage"),
                    Column("invoiced", "Invoiced", "money", total=True), Column("paid", "Paid", "money", total=True),
                    Column("credited", "Credited", "money", total=True),
                    Column("written_off", "Written off", "money", total=True),
                    Column("remaining", "Remaining", "money", total=True))
PAYMENT_COLUMNS = (Column("payment_date", "Payment date", "date"), Column("invoice_number", "Invoice number"),
                   Column("debtor", "Debtor"), Column("reference", "Payment reference", weight=5),
                   Column("mean", "Payment mean"), Column("amount", "Amount", "money", total=True))
DISCREPANCY_COLUMNS = (Column("kind", "Discrepancy"), Column("invoice_number", "Invoice number"),
                       Column("detail", "Detail", weight=5), Column("billecta", "Billecta", "money"),
                       Column("lime", "Lime", "money"), Column("difference", "Difference", "money", total=True))


def _billecta_invoices(services: Services, who: Creditor, start: date) -> list[dict[str, Any]]:
    ids = {"creditor_public_id": who.public_id}
    listed = [*(services.billecta.call("invoice.open_by_creditor", ids) or []),
              *(services.billecta.call("invoice.closed", ids, query={"from": start}) or [])]
    seen: dict[str, dict[str, Any]] = {}
    for row in listed:
        if isinstance(row, dict) and row.get("Stage") not in (None, "Created", "None"):
            seen.setdefault(text(row.get("ActionPublicId")), row)
    return list(seen.values())


def _payments(services: Services, who: Creditor, start: date, end: date) -> list[dict[str, Any]]:
    body = {"CreditorPublicId": who.public_id, "From": datetime.combine(start, time.min).isoformat(),
            "To": datetime.combine(end + timedelta(days=1), time.min).isoformat()}
    answer = services.billecta.call("payments.incoming", body=body) or []
    return [p for p in answer if isinstance(p, dict) and text(p.get("PaymentMeanCode")) not in NOT_PAYMENTS
            and (d := day(p.get("PaymentDate"))) is not None and start <= d <= end]


def build(services: Services, who: Creditor, start: date, end: date, account: str, selection: str,
          opening: int, progress: Progress | None = None) -> Report:
    repo = LimeRepo(services.lime, services.mappings)
    listed = [row for row in _billecta_invoices(services, who, start)
              if (d := day(row.get("InvoiceDate"))) is not None and start <= d <= end]
    movements, views = [], {}
    for n, row in enumerate(listed, start=1):
        action_id = text(row.get("ActionPublicId"))
        view = services.billecta.get_invoice(action_id)
        views[action_id] = view
        state = view.get("State") or {}
        invoiced = minor(view.get("InvoicedAmount"))
        is_credit = bool(credited_invoice_id(view))
        movements.append({
            "action_public_id": action_id,
            "invoice_number": text(row.get("InvoiceNumber") or view.get("InvoiceNumber")),
            "debtor": text(row.get("DebtorName")), "invoice_date": day(row.get("InvoiceDate")),
            "stage": text(state.get("Stage") or row.get("Stage")),
            # A credit invoice is a credit, not negative invoicing; its own settlement is not counted twice.
            "invoiced": 0 if is_credit else invoiced, "paid": minor(view.get("PaidAmount")),
            "credited": 0 if is_credit else minor(view.get("CreditedAmount")),
            "written_off": minor(view.get("WriteOffAmount")),
            "remaining": 0 if is_credit else minor(view.get("CurrentAmount")), "is_credit": is_credit,
        })
        if progress is not None:
            progress(n, len(listed))
    payments = _payments(services, who, start, end)
    numbers = {m["action_public_id"]: m["invoice_number"] for m in movements}
    payment_rows = [{"payment_date": day(p.get("PaymentDate")), "invoice_number": text(p.get("InvoiceNumber")),
                     "debtor": text(p.get("DebtorName")), "reference": text(p.get("PaymentReferenceId")),
                     "mean": text(p.get("PaymentMeanCode")), "amount": minor(p.get("Amount")),
                     "action_public_id": text(p.get("ActionPublicId"))} for p in payments]
    payment_rows.sort(key=lambda r: (r["payment_date"], r["reference"]))

    invoiced = sum(m["invoiced"] for m in movements)
    paid = (sum(m["paid"] for m in movements) if selection == "invoice_date"
            else sum(p["amount"] for p in payment_rows))
    credited = sum(m["credited"] for m in movements)
    written_off = sum(m["written_off"] for m in movements)
    closing = opening + invoiced - paid - credited - written_off

    discrepancies = _discrepancies(repo, who, start, end, movements, payment_rows, numbers)
    summary = [("Opening balance", opening), ("Invoiced", invoiced), ("Paid", paid), ("Credited", credited),
               ("Written off", written_off), ("Closing balance", closing)]
    return Report("account-reconciliation", "Account reconciliation", f"{who.name} ({who.public_id})",
                  f"{start.isoformat()} to {end.isoformat()} by {selection.replace('_', ' ')}, account {account}",
                  datetime.now(UTC), summary=summary,
                  tables=[Table("Invoices", MOVEMENT_COLUMNS, movements),
                          Table("Payments", PAYMENT_COLUMNS, payment_rows),
                          Table("Discrepancies", DISCREPANCY_COLUMNS, discrepancies)])


def _discrepancies(repo: LimeRepo, who: Creditor, start: date, end: date, movements: list[dict[str, Any]],
                   payment_rows: list[dict[str, Any]], numbers: dict[str, str]) -> list[dict[str, Any]]:
    lime_invoices = list(repo.find("invoice", {"creditor": who.id}))
    by_action = {text(i.get("actionpublicid")): i for i in lime_invoices if text(i.get("actionpublicid"))}
    found: list[dict[str, Any]] = []

    def add(kind: str, number: str, detail: str, billecta: int | None, lime: int | None) -> None:
        found.append({"kind": kind, "invoice_number": number, "detail": detail, "billecta": billecta, "lime": lime,
                      "difference": (billecta or 0) - (lime or 0)})

    billecta_ids = {m["action_public_id"] for m in movements}
    for m in movements:
        mine = by_action.get(m["action_public_id"])
        if mine is None:
            add("In Billecta, not in Lime", m["invoice_number"], f"ActionPublicId {m['action_public_id']}",
                m["remaining"], None)
            continue
        if m["is_credit"]:
            continue
        lime_invoiced, lime_remaining = minor_from_major(mine.get("invoicedamount")), minor_from_major(
            mine.get("currentamount"))
        if lime_invoiced != m["invoiced"]:
            add("Invoiced amount differs", m["invoice_number"], "invoiced", m["invoiced"], lime_invoiced)
        if lime_remaining != m["remaining"]:
            add("Remaining amount differs", m["invoice_number"], "remaining", m["remaining"], lime_remaining)
        status = option_key(mine.get("invoicestatus")) or ""
        if (m["stage"] in CLOSED_STAGES) != (status in LIME_CLOSED):
            add("Status differs", m["invoice_number"], f"Billecta {m['stage']}, Lime {status or '-'}", None, None)
    for action_id, mine in by_action.items():
        dated = day(mine.get("invoicedate"))
        if action_id not in billecta_ids and dated is not None and start <= dated <= end:
            add("In Lime, not in Billecta", text(mine.get("invoicenumber")), f"Lime invoice {mine['_id']}",
                None, minor_from_major(mine.get("currentamount")))
    lime_payments = {text(p.get("paymentbillectaid")) for p in repo.find("payment", {"creditor": who.id})}
    for p in payment_rows:
        if p["reference"] not in lime_payments:
            add("Payment not booked in Lime", p["invoice_number"] or numbers.get(p["action_public_id"], ""),
                f"{p['payment_date']} {p['reference']}", p["amount"], None)
    return found


def account_reconciliation_report(services: Services, idcreditor: int, from_date: str, to_date: str,
                                  account: str, date_selection_type: str, opening_balance: Any = 0,
                                  file_format: str = "xlsx") -> dict[str, Any]:
    fmt = check_format(file_format)
    start, end = check_period(from_date, to_date)
    if date_selection_type not in DATE_SELECTION_TYPES:
        raise InvalidRequest(f"date_selection_type must be one of {', '.join(DATE_SELECTION_TYPES)}",
                             "date_selection_type")
    try:
        opening = minor_from_major(opening_balance)
    except ArithmeticError:
        raise InvalidRequest("opening_balance must be a number", "opening_balance") from None
    who = creditor(services, idcreditor)
    report = build(services, who, start, end, str(account), date_selection_type, opening,
                   progress_logger("account reconciliation", services, who.id))
    params = (f"{start.isoformat()}..{end.isoformat()}, account {account}, {date_selection_type}, "
              f"opening {opening_balance}, {fmt}")
    return store.store(services, report, fmt, who.id, params)
