"""The money of attested invoices in the Billecta sandbox beyond what ``Invoice`` holds: the payments booked,
the amount written off, and the reminder and debt collection case made from each invoice.

Payments, reminders and debt collection all build on it: the balance Billecta goes by (``balance``) counts
write-offs, and InvoiceActionView shows these amounts and links (a view hook).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Any

from sandbox.billecta.state.core import amount
from sandbox.billecta.state.invoice import Invoice
from sandbox.billecta.state.invoices import Invoices


@dataclass
class InvoiceMoney:
    """What ``Invoice`` does not hold."""

    payments: list[dict[str, Any]] = field(default_factory=list)
    settlements: list[dict[str, Any]] = field(default_factory=list)  # credits and write-offs, as IncomingPaymentView
    written_off: int = 0
    reminder_action_id: str | None = None
    debt_collection_id: str | None = None


@dataclass(eq=False)
class Ledger:
    invoices: Invoices
    accounts: dict[str, InvoiceMoney] = field(default_factory=dict, init=False)
    # Reminders and debt collection cases are numbered from one series, apart from invoices' own.
    _action_ids: itertools.count[int] = field(
        default_factory=lambda: itertools.count(random.randint(8_000_000_000, 8_900_000_000)), init=False
    )

    def clear(self) -> None:
        self.accounts = {}

    def of(self, action_id: str) -> InvoiceMoney:
        return self.accounts.setdefault(action_id, InvoiceMoney())

    def next_action_id(self) -> str:
        return str(next(self._action_ids))

    def balance(self, invoice: Invoice) -> int:
        """What is left to pay: invoiced less paid, credited and written off."""
        sums = self.invoices.totals(invoice)
        return sums.invoiced - invoice.paid - invoice.credited - self.of(invoice.action_public_id).written_off

    def complete(self, invoice: Invoice) -> None:
        # Completing books the remainder as paid; keep the amounts booked here instead.
        paid, credited = invoice.paid, invoice.credited
        self.invoices.apply_stage(invoice, "Completed")
        invoice.paid, invoice.credited = paid, credited

    def decorate(self, invoice: Invoice, view: dict[str, Any]) -> None:
        """View hook: the write-offs, and the reminder and debt collection made from the invoice."""
        money = self.accounts.get(invoice.action_public_id)
        if money is None:
            return
        currency = (view.get("InvoicedAmount") or {}).get("CurrencyCode") or "SEK"
        current = int((view.get("CurrentAmount") or {}).get("Value") or 0) - money.written_off
        view["WriteOffAmount"] = amount(money.written_off, currency)
        view["CurrentAmount"] = amount(current, currency)
        view["ReminderInvoiceActionPublicId"] = money.reminder_action_id
        view["DebtCollectionActionPublicId"] = money.debt_collection_id
