"""Reminder invoices: sent by ``POST /v1/invoice/sendreminderinvoice`` (or ``POST /_sandbox/invoices/<id>/reminder``,
Billecta's own reminder process), read at ``GET /v1/invoice/reminderinvoice/<id>``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox.billecta.extension import Host
from sandbox.billecta.outbox import DataObject
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

    def send_reminder_invoice(body: dict[str, Any]) -> Reply:
        return 201, {"PublicId": reminders.send(body)}

    host.add_routes(
        # The client's invoice.reminder.get; no source shows this path, it is the client's guess.
        Route("get_reminder_invoice", "GET", "/v1/invoice/reminderinvoice/<action_id>", get_reminder_invoice,
              None, "ReminderInvoiceActionView", "U", "client's guess", listed=False),
        # The answer is not known either; a CreatedView naming the new reminder is the sandbox's choice.
        Route("send_reminder_invoice", "POST", "/v1/invoice/sendreminderinvoice", send_reminder_invoice,
              "SendReminderInvoiceView", "CreatedView", "P",
              "client route invoice.send_reminder; SendReminderInvoiceView exists; path guessed, as in the "
              "client's route table (partly verified); answer CreatedView is the sandbox's choice", listed=False),
    )
    host.add_admin("/_sandbox/invoices/<action_id>/reminder", "reminder", json_action(reminders.remind))

    def reminder_view(ids: Mapping[str, str], _context: Mapping[str, Any]) -> tuple[Any, Any]:
        return reminders.view(ids["ReminderInvoiceActionPublicId"]), None

    # Not in the readable part of Billecta's webhook table: the reminder's own view, by analogy.
    host.outbox.add_data_object(["ReminderInvoiceActionCreated"],
                                DataObject("ReminderInvoiceActionView", reminder_view, False))
