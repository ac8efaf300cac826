"""Reading Billecta webhook bodies: both body styles the sandbox sends, loose key spelling, missing parts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from billecta_sync.inbound.billecta_events import BillectaEvent, InvalidWebhook, missing_ids, parse_billecta_event
from sandbox.billecta.app import BillectaSandbox, BillectaSandboxConfig

CREDITOR = "5f1c6a52-3b0e-4c55-9a61-0b5b8c0e9a11"
ACTION = "0c3e8f0a-9d4b-4f7e-8e2c-6f1d2a3b4c5d"
DEBTOR = "7a9b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"


@pytest.fixture
def sandbox() -> Iterator[BillectaSandbox]:
    """The Billecta sandbox with its webhook sender paused: deliveries are built but stay queued."""
    fake = BillectaSandbox(BillectaSandboxConfig(webhook_url="http://127.0.0.1:9/unused", auto_send_delay_s=-1))
    fake.sender.paused = True
    yield fake
    fake.sender.clear()


def sandbox_body(sandbox: BillectaSandbox, style: str, trigger: str, ids: dict[str, str]) -> dict[str, Any]:
    """The body the sandbox sends for one event in the given style (its own code builds it)."""
    sandbox.config.webhook_payload_style = style
    sandbox._on_event(trigger, ids)
    body: dict[str, Any] = json.loads(sandbox.sender.deliveries()[-1].body)
    return body


def test_flat_and_nested_sandbox_bodies_parse_to_the_same_event(sandbox: BillectaSandbox) -> None:
    ids = {"CreditorPublicId": CREDITOR, "ActionPublicId": ACTION}
    flat = sandbox_body(sandbox, "flat", "InvoiceActionAttested", ids)
    nested = sandbox_body(sandbox, "nested", "InvoiceActionAttested", ids)
    assert "Data" in nested and "Data" not in flat  # the two styles really differ
    nested["EventId"], nested["Timestamp"] = flat["EventId"], flat["Created"]

    from_flat = parse_billecta_event(flat)
    from_nested = parse_billecta_event(nested)

    assert from_flat == from_nested
    assert from_flat == BillectaEvent(
        type="InvoiceActionAttested",
        ids={"ActionPublicId": ACTION, "CreditorPublicId": CREDITOR, "EventId": flat["EventId"]},
        occurred_at=flat["Created"],
    )
    assert from_flat.supported
    assert from_flat.action_public_id == ACTION
    assert from_flat.object_key == f"action:{ACTION}"


def test_debtor_event_from_the_sandbox_is_keyed_by_debtor(sandbox: BillectaSandbox) -> None:
    event = parse_billecta_event(sandbox_body(sandbox, "nested", "DebtorUpdated",
                                              {"CreditorPublicId": CREDITOR, "DebtorPublicId": DEBTOR}))

    assert event.type == "DebtorUpdated"
    assert event.object_key == f"debtor:{DEBTOR}"
    assert missing_ids(event) == ()


def test_keys_are_matched_case_insensitively() -> None:
    event = parse_billecta_event({"webhooktriggertype": "InvoiceActionStateChanged", "ACTIONPUBLICID": ACTION,
                                  "creditorPublicId": CREDITOR, "TIMESTAMP": "2026-01-31T10:00:00+01:00"})

    assert event.type == "InvoiceActionStateChanged"
    assert event.id("ActionPublicId") == ACTION
    assert event.id("CreditorPublicId") == CREDITOR
    assert event.occurred_at == "2026-01-31T10:00:00+01:00"


def test_type_and_ids_are_trimmed_and_numeric_ids_become_text() -> None:
    event = parse_billecta_event({"EventType": "  InvoicePaymentReceived ", "ActionPublicId": " a-1 ",
                                  "EventId": 12345})

    assert event.type == "InvoicePaymentReceived"
    assert event.ids == {"ActionPublicId": "a-1", "EventId": "12345"}


@pytest.mark.parametrize("body", [
    {"ActionPublicId": ACTION, "CreditorPublicId": CREDITOR},
    {"WebhookTriggerType": "", "ActionPublicId": ACTION},
    {"Type": 7, "ActionPublicId": ACTION},
])
def test_body_without_an_event_type_is_invalid(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidWebhook, match="no event type found"):
        parse_billecta_event(body)


@pytest.mark.parametrize("body", [[{"Type": "InvoiceActionAttested"}], "InvoiceActionAttested", None])
def test_body_that_is_not_an_object_is_invalid(body: Any) -> None:
    with pytest.raises(InvalidWebhook, match="JSON object"):
        parse_billecta_event(body)


@pytest.mark.parametrize(("body", "missing"), [
    ({"Type": "InvoiceActionAttested", "CreditorPublicId": CREDITOR}, ("ActionPublicId",)),
    ({"Type": "DebtorUpdated", "ActionPublicId": ACTION}, ("DebtorPublicId",)),
    ({"Type": "UnmatchedPayment"}, ("UnhandledPaymentPublicId", "PaymentPublicId")),
    ({"Type": "UnmatchedPayment", "PaymentPublicId": "p-1"}, ()),
    ({"Type": "DebtCollectionActionStateChanged", "DebtCollectionActionPublicId": "dc-1"}, ()),
    ({"Type": "InvoiceActionAttested", "ActionPublicId": ACTION}, ()),
])
def test_missing_ids_names_what_the_event_needs(body: dict[str, Any], missing: tuple[str, ...]) -> None:
    assert missing_ids(parse_billecta_event(body)) == missing


@pytest.mark.parametrize(("ids", "key"), [
    ({"ActionPublicId": "a-1", "DebtorPublicId": "d-1"}, "action:a-1"),
    ({"DebtCollectionActionPublicId": "dc-1"}, "action:dc-1"),
    ({"DebtorPublicId": "d-1", "PaymentPublicId": "p-1"}, "debtor:d-1"),
    ({"UnhandledPaymentPublicId": "u-1", "PaymentPublicId": "p-1"}, "payment:u-1"),
    ({"PaymentPublicId": "p-1"}, "payment:p-1"),
    ({"CreditorPublicId": CREDITOR}, ""),
])
def test_object_key_names_what_the_event_is_about(ids: dict[str, str], key: str) -> None:
    assert parse_billecta_event({"Type": "Whatever", **ids}).object_key == key


def test_unknown_event_type_is_parsed_but_not_supported() -> None:
    event = parse_billecta_event({"WebhookTriggerType": "CreditorCreated", "CreditorPublicId": CREDITOR})

    assert event.type == "CreditorCreated"
    assert not event.supported
