"""The accounts-receivable age analysis of the Billecta sandbox, computed from its invoices and ledger.

``GET /v1/Analysis/AgeAnalysisAccountReceivables/{creditor}`` has no view model among Billecta's published
schemas (the Rust crate, the only source, keeps it in its ``unstable`` module), so its answer is documented
here and not contract-checked. The answer is an array of OutstandingInvoice::

    {"ActionPublicId": str, "InvoiceNumber": str, "Debtor": DebtorView,
     "InvoiceDate": "YYYY-MM-DD", "DueDate": "YYYY-MM-DD",
     "InvoicedAmountIncludingTax": Amount, "RemainingAmountIncludingTax": Amount,
     "PeriodStart": "YYYY-MM-DD" | null, "PeriodEnd": "YYYY-MM-DD" | null, "YourReference": str | null}

The sandbox's rules (Billecta's are not published):

* an invoice counts when it is attested, not a credit invoice, and dated (InvoiceDate) on or before ``date``;
* its remaining amount at ``date`` is the invoiced amount less the payments, credits and write-offs booked
  on it with a PaymentDate on or before ``date``; only invoices with something remaining are listed (so an
  invoice closed later still shows at an earlier date);
* ``excludeInvoicesWithPeriodOutsideDate=true`` leaves out invoices whose period (the entry's PeriodStart /
  PeriodEnd, when set) does not contain ``date``; ``isPeriodSpecific`` is accepted and has no effect here;
  ``showOnlyFinancedInvoices=true`` keeps only invoices sold to financing (SalesRequestedDate set).

The bulk seeding for benchmarks (``POST /_sandbox/analysis/bulk-invoices``) makes attested invoices directly
in the store, without webhooks, so 10 000 invoices cost one request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sandbox.billecta import contract
from sandbox.billecta.state.core import BillectaError, amount, minor_units, now, with_ocr
from sandbox.billecta.state.credits import CREDIT_ACTION
from sandbox.billecta.state.invoice import Invoice
from sandbox.billecta.state.invoices import Invoices
from sandbox.billecta.state.ledger import Ledger
from sandbox.billecta.state.masterdata import Creditors, Debtors

MAX_BULK = 50_000


def day_arg(value: object, name: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise BillectaError(400, f"{name} is not a date: {value!r}") from exc


def _paid_on(record: dict[str, Any]) -> date:
    moment = contract.parse_datetime(str(record.get("PaymentDate") or ""))
    return moment.date() if isinstance(moment, datetime) else date.min


@dataclass(eq=False)
class Analysis:
    invoices: Invoices
    ledger: Ledger
    creditors: Creditors
    debtors: Debtors

    def clear(self) -> None:
        pass

    def remaining_at(self, invoice: Invoice, at: date) -> int:
        invoiced = self.invoices.totals(invoice).invoiced
        money = self.ledger.accounts.get(invoice.action_public_id)
        if money is None:
            return invoiced
        booked = sum(int(r["Amount"]["Value"]) for r in [*money.payments, *money.settlements] if _paid_on(r) <= at)
        return invoiced - booked

    def outstanding(self, creditor_id: str, at: date, *, exclude_outside_period: bool = False,
                    only_financed: bool = False) -> list[dict[str, Any]]:
        with self.invoices.lock:
            self.creditors.find(creditor_id)
            rows = []
            for invoice in self.invoices.rows.values():
                if (invoice.creditor_public_id != creditor_id or not invoice.is_attested
                        or invoice.entry.get("ActionType") == CREDIT_ACTION or invoice.invoice_date > at):
                    continue
                if only_financed and invoice.sales_requested is None:
                    continue
                start = day_arg(invoice.entry.get("PeriodStart"), "PeriodStart")
                end = day_arg(invoice.entry.get("PeriodEnd"), "PeriodEnd")
                if exclude_outside_period and (start or end) and not (
                        (start is None or start <= at) and (end is None or at <= end)):
                    continue
                remaining = self.remaining_at(invoice, at)
                if remaining <= 0:
                    continue
                currency = self.invoices.totals(invoice).currency
                rows.append({
                    "ActionPublicId": invoice.action_public_id,
                    "InvoiceNumber": invoice.invoice_number,
                    "Debtor": dict(self.debtors.rows.get(invoice.debtor_public_id) or {}),
                    "InvoiceDate": invoice.invoice_date.isoformat(),
                    "DueDate": invoice.due_date.isoformat(),
                    "InvoicedAmountIncludingTax": amount(self.invoices.totals(invoice).invoiced, currency),
                    "RemainingAmountIncludingTax": amount(remaining, currency),
                    "PeriodStart": start.isoformat() if start else None,
                    "PeriodEnd": end.isoformat() if end else None,
                    "YourReference": invoice.entry.get("YourReference"),
                })
            return rows

    def bulk_invoices(self, body: dict[str, Any]) -> dict[str, Any]:
        """``count`` attested invoices of ``amount`` (major units) for one debtor, due ``days_overdue`` (a
        list, used round-robin) days before ``date``; no webhooks are raised."""
        count = body.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= MAX_BULK:
            raise BillectaError(400, f"count must be a whole number from 1 to {MAX_BULK}")
        value = minor_units(body.get("amount", "100.00"))
        at = day_arg(body.get("date"), "date") or now().date()
        overdue = body.get("days_overdue") or [0]
        if not isinstance(overdue, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in overdue):
            raise BillectaError(400, "days_overdue must be a list of whole numbers")
        with self.invoices.lock:
            creditor = self.creditors.find(str(body.get("creditor_public_id") or ""), 400)
            debtor = self.debtors.find(str(body.get("debtor_public_id") or ""))
            made = []
            for n in range(count):
                due = at - timedelta(days=overdue[n % len(overdue)])
                entry = {"CreditorPublicId": creditor["CreditorPublicId"],
                         "DebtorPublicId": debtor["DebtorPublicId"], "DeliveryMethod": "Manually",
                         "InvoiceDate": (due - timedelta(days=30)).isoformat(), "DueDate": due.isoformat(),
                         "Records": [{"RecordType": "Standard", "ArticleDescription": "Bulk", "Quantity": 1,
                                      "VAT": 0, "UnitPrice": amount(value, "SEK")}]}
                action_id = str(next(self.invoices._action_ids))
                number = self.invoices.next_invoice_number(creditor)
                moment = now()
                self.invoices.rows[action_id] = Invoice(
                    action_public_id=action_id, creditor_public_id=creditor["CreditorPublicId"],
                    debtor_public_id=debtor["DebtorPublicId"], entry=entry, invoice_date=due - timedelta(days=30),
                    due_date=due, created=moment, stage="Attested", invoice_number=number, ocr=with_ocr(number),
                    attested=moment, sent=moment)
                made.append(action_id)
            return {"created": len(made), "first": made[0], "last": made[-1]}
