"""Reminder invoices: made by ``POST /_sandbox/invoices/<id>/reminder``, read at
``GET /v1/invoice/reminderinvoice/<id>``."""

from __future__ import annotations

from sandbox.billecta.extension import Host
from sandbox.billecta.routing import Reply, Route, json_action
from sandbox.billecta.state.invoices import Invoices
from sandbox.billecta.state.ledger import Ledger
from sandbox.billecta.state.masterdata import Creditors, Debtors
from sandbox.billecta.state.reminders import Reminders


def register(host: Host) -> None:
    store = host.store
    reminders = store.add(
        Reminders(store, store.get(Invoices), store.get(Creditors), store.get(Debtors), store.get(Ledger))
    )

    def get_reminder_invoice(_body: None, action_id: str) -> Reply:
        return 200, reminders.view(action_id)

    host.add_routes(
        # The client's invoice.reminder.get; no source shows this path, it is the client's guess.
        Route("get_reminder_invoice", "GET", "/v1/invoice/reminderinvoice/<action_id>", get_reminder_invoice,
              None, "ReminderInvoiceActionView", "U", "client's guess", listed=False),
    )
    host.add_admin("/_sandbox/invoices/<action_id>/reminder", "reminder", json_action(reminders.remind))
