"""The ReminderInvoiceActionCreated flow: a new Billecta reminder invoice becomes a Lime invoice of its own,
its source invoice brought over from Billecta first when Lime lacks it."""

from __future__ import annotations

from billecta_sync.container import Services
from billecta_sync.errors import RelatedObjectMissing
from billecta_sync.usecases.billecta_to_lime.invoices import sync_invoice_from_billecta
from billecta_sync.usecases.billecta_to_lime.reminder_invoices import refresh_reminder


def sync_reminder_invoice_from_billecta(services: Services, reminder_action_id: str,
                                        source_action_id: str = "") -> str:
    """Create or update the Lime invoice of one Billecta reminder invoice action.

    The reminder lock is not held while a missing source is synced, so the only lock order is source, then
    reminder (a source sync may re-read its reminder).
    """
    outcome, source_id = refresh_reminder(services, reminder_action_id, source_action_id)
    if outcome is not None:
        return outcome
    sync_invoice_from_billecta(services, source_id)
    outcome, _ = refresh_reminder(services, reminder_action_id, source_id)
    if outcome is None:
        raise RelatedObjectMissing(f"the invoice {source_id} reminded of by {reminder_action_id} is not in Lime")
    return outcome
