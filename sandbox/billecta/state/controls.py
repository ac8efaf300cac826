"""Collection controls on one invoice in the Billecta sandbox: pause, resume, dispute, undispute, postpone.

Each control acts only when the capability flag it needs is true in the InvoiceActionView a GET would answer
right now (the flags are computed in ``invoice``; rules in its module doc). A false flag is Billecta's 400 and
changes nothing; an unknown invoice is a 404. A control that changes something adds its event and raises
``InvoiceActionStateChanged``, since pause and dispute live in the invoice's State.

Billecta's paths and parameters for these are not known (docs: billecta-api.md §2.4); the routes that call
these are the client's guesses, and ``days`` is the query parameter the client sends.
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.billecta.state.core import BillectaError, now
from sandbox.billecta.state.invoice import Invoice, next_event
from sandbox.billecta.state.invoices import Invoices

# Longer than any payment plan a creditor would postpone by; it also keeps the dates far from date.max.
MAX_POSTPONE_DAYS = 3650


def positive_days(value: object) -> int:
    """The ``days`` of a postpone: a whole number from 1 to ``MAX_POSTPONE_DAYS`` (400 otherwise)."""
    text = "" if value is None else str(value).strip()
    if not text.lstrip("+-").isdigit():
        raise BillectaError(400, f"days must be a positive whole number of days, not {value!r}")
    days = int(text)
    if not 0 < days <= MAX_POSTPONE_DAYS:
        raise BillectaError(400, f"days must be between 1 and {MAX_POSTPONE_DAYS}, not {days}")
    return days


def _reason(invoice: Invoice, flag: str) -> str:
    """Why ``flag`` is false, for the refusal's message (the decision itself is the flag's)."""
    if not invoice.is_attested:
        return "it is not attested"
    if not invoice.is_open:
        return f"it is closed (Stage {invoice.stage})"
    specific = {
        "CanPause": "it is already paused" if invoice.paused else "it is in debt collection",
        "CanResume": "it is not paused",
        "CanDispute": "it is already disputed",
        "CanUnDispute": "it is not disputed",
        "CanPostpone": "it has no next event scheduled",
    }
    if flag in specific:
        return specific[flag]
    if invoice.in_debt_collection:
        return "it is already in debt collection"
    if invoice.sent is None:
        return "it has not been sent to the debtor yet"
    return "Billecta does not allow it in its current state"


def refusal(invoice: Invoice, flag: str, what: str) -> BillectaError:
    """Billecta's 400 for an invoice action whose capability flag is false; ``what`` names the action
    ("pausing")."""
    return BillectaError(400, f"Invoice {invoice.action_public_id}: {what} is not allowed now; "
                              f"{_reason(invoice, flag)} ({flag} is false)")


@dataclass(eq=False)
class InvoiceControls:
    """Keeps no state of its own: pause, dispute and the postponement live on the invoice."""

    invoices: Invoices

    def _allowed(self, action_public_id: str, flag: str, what: str) -> Invoice:
        """The invoice, if the view a GET answers now has ``flag`` true; refusals raise before any change."""
        invoice = self.invoices.find(action_public_id)
        if not self.invoices.get(action_public_id)[flag]:
            raise refusal(invoice, flag, what)
        return invoice

    def _changed(self, invoice: Invoice, event_type: str, title: str) -> None:
        self.invoices.add_event(invoice, event_type, title)
        self.invoices.state_changed(invoice)

    def pause(self, action_public_id: str) -> None:
        with self.invoices.lock:
            invoice = self._allowed(action_public_id, "CanPause", "pausing")
            invoice.paused = True
            self._changed(invoice, "Paused", "Invoice paused")

    def resume(self, action_public_id: str) -> None:
        with self.invoices.lock:
            invoice = self._allowed(action_public_id, "CanResume", "resuming")
            invoice.paused = False
            self._changed(invoice, "Resumed", "Invoice resumed")

    def dispute(self, action_public_id: str) -> None:
        with self.invoices.lock:
            invoice = self._allowed(action_public_id, "CanDispute", "disputing")
            invoice.disputed = now()
            self._changed(invoice, "Disputed", "Invoice disputed")

    def undispute(self, action_public_id: str) -> None:
        with self.invoices.lock:
            invoice = self._allowed(action_public_id, "CanUnDispute", "removing the dispute")
            invoice.disputed = None
            self._changed(invoice, "UnDisputed", "Dispute removed")

    def postpone(self, action_public_id: str, days: object) -> None:
        """Move the invoice's remaining schedule ``days`` later (NextEventDate += days)."""
        with self.invoices.lock:
            self.invoices.find(action_public_id)  # an unknown invoice is a 404 before a bad days is a 400
            count = positive_days(days)
            invoice = self._allowed(action_public_id, "CanPostpone", "postponing the next event")
            invoice.postponed_days += count
            scheduled = next_event(invoice)
            moved_to = scheduled[1].isoformat() if scheduled else "-"
            self._changed(invoice, "Updated", f"Next event postponed {count} days to {moved_to}")

    def shift(self, action_public_id: str, days: int) -> None:
        """Admin: move the schedule by ``days`` (negative = earlier) without a flag check or an event."""
        with self.invoices.lock:
            invoice = self.invoices.find(action_public_id)
            if next_event(invoice) is None:
                raise BillectaError(400, f"Invoice {action_public_id} has no next event scheduled")
            invoice.postponed_days += int(days)
            self.invoices.state_changed(invoice)

