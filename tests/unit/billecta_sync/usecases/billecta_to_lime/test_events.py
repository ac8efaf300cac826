"""Which handler each Billecta event gets, and what the handlers pass on to the invoice sync."""

from __future__ import annotations

from typing import Any, cast

import pytest

from billecta_sync.inbound.billecta_events import SUPPORTED_EVENTS, parse_billecta_event
from billecta_sync.usecases.billecta_to_lime import events as handlers
from billecta_sync.usecases.billecta_to_lime.events import HANDLERS

ACTION = "7f0e3c1a-2b4d-4e6f-8a9b-0c1d2e3f4a5b"


def test_every_supported_event_has_a_handler() -> None:
    assert set(HANDLERS) == set(SUPPORTED_EVENTS)


@pytest.mark.parametrize(("trigger", "status"), [("AutogiroWithdrawalFailedOnInvoice", "failed"),
                                                 ("AutogiroWithdrawalRenewedOnInvoice", "renewed")])
def test_withdrawal_webhooks_pass_the_outcome_and_the_event_time(monkeypatch: pytest.MonkeyPatch, trigger: str,
                                                                 status: str) -> None:
    seen: list[tuple[str, Any]] = []

    def fake_sync(_services: Any, action_id: str, **kwargs: Any) -> str:
        seen.append((action_id, kwargs.get("autogiro")))
        return "ok"

    monkeypatch.setattr(handlers, "sync_invoice_from_billecta", fake_sync)
    body = {"WebhookTriggerType": trigger, "ActionPublicId": ACTION, "Created": "2026-03-02T12:00:00+01:00"}

    handlers.HANDLERS[trigger](cast(Any, None), parse_billecta_event(body))

    assert seen == [(ACTION, (status, "2026-03-02T12:00:00+01:00"))]


REMINDER = "3a4b5c6d-7e8f-4a0b-9c1d-2e3f4a5b6c7d"


@pytest.mark.parametrize("body", [
    # the reminder's own view as the data object (Billecta's documented style)
    {"WebhookTriggerType": "ReminderInvoiceActionCreated",
     "Data": {"ActionPublicId": REMINDER, "SourceActionPublicId": ACTION, "Created": "2020-01-01T00:00:00"}},
    # a body naming the invoice and its reminder
    {"WebhookTriggerType": "ReminderInvoiceActionCreated", "ActionPublicId": ACTION,
     "ReminderInvoiceActionPublicId": REMINDER},
], ids=["data-object", "ids"])
def test_a_new_reminder_syncs_its_source_invoice_then_the_reminder_whatever_the_body_shape(
        monkeypatch: pytest.MonkeyPatch, body: dict[str, Any]) -> None:
    synced: list[str] = []
    reminders: list[tuple[str, str]] = []
    monkeypatch.setattr(handlers, "sync_invoice_from_billecta",
                        lambda _services, action_id, **_kw: synced.append(action_id) or "invoice ok")
    monkeypatch.setattr(handlers, "sync_reminder_invoice_from_billecta",
                        lambda _services, reminder_id, source_id: reminders.append((reminder_id, source_id)) or "ok")

    handlers.HANDLERS["ReminderInvoiceActionCreated"](cast(Any, None), parse_billecta_event(body))

    assert synced == [ACTION]
    assert reminders == [(REMINDER, ACTION)]


def test_the_event_time_is_the_envelopes_not_a_time_inside_the_data_object() -> None:
    documented = {"WebhookTriggerType": "AutogiroWithdrawalFailedOnInvoice",
                  "Data": {"ActionPublicId": ACTION, "Created": "2019-05-01T10:00:00"}}
    assert parse_billecta_event(documented).occurred_at == ""  # an invoice's creation is not the event's time
    flat = {"WebhookTriggerType": "AutogiroWithdrawalFailedOnInvoice", "ActionPublicId": ACTION,
            "Created": "2026-03-02T12:00:00+01:00"}
    assert parse_billecta_event(flat).occurred_at == "2026-03-02T12:00:00+01:00"
