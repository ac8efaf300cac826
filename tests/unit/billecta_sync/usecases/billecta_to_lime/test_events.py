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
