"""Reading Billecta webhook bodies — the one place that knows their shape.

Billecta does not publish the body format of its webhook POSTs, so parsing is defensive: the trigger
name is looked for under several plausible keys, and ids (ActionPublicId, DebtorPublicId, ...) are
found case-insensitively wherever they sit in the body. Handlers never trust the rest of the payload;
they re-fetch the object from Billecta.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Events the service acts on (Billecta's WebhookTriggerType names).
SUPPORTED_EVENTS: frozenset[str] = frozenset({
    "DebtorUpdated",
    "InvoiceActionAttested",
    "InvoiceActionStateChanged",
    "InvoicePaymentReceived",
    "ReminderInvoiceActionCreated",
    "Overpayment",
    "OverpaymentMatchedToInvoice",
    "UnmatchedPayment",
    "AmountWrittenOffOnInvoice",
    "AmountCreditedOnInvoice",
    "AutogiroApprovalFailed",
    "AutogiroApprovalChanged",
    "AutogiroWithdrawalFailedOnInvoice",
    "AutogiroWithdrawalRenewedOnInvoice",
    "DebtCollectionActionStateChanged",
})

# Which id an event needs to be processed at all.
REQUIRED_ID: dict[str, tuple[str, ...]] = {
    "DebtorUpdated": ("DebtorPublicId",),
    "AutogiroApprovalFailed": ("DebtorPublicId",),
    "AutogiroApprovalChanged": ("DebtorPublicId",),
    "UnmatchedPayment": ("UnhandledPaymentPublicId", "PaymentPublicId"),
    "Overpayment": ("UnhandledPaymentPublicId", "PaymentPublicId", "ActionPublicId"),
    "OverpaymentMatchedToInvoice": ("UnhandledPaymentPublicId", "PaymentPublicId", "ActionPublicId"),
    "DebtCollectionActionStateChanged": ("ActionPublicId", "DebtCollectionActionPublicId"),
}
DEFAULT_REQUIRED_ID = ("ActionPublicId",)

_TYPE_KEYS = ("webhooktriggertype", "triggertype", "eventtype", "event", "type", "webhooktype", "name")
_ID_KEYS = (
    "ActionPublicId", "CreditorPublicId", "DebtorPublicId", "ProductPublicId", "UnhandledPaymentPublicId",
    "PaymentPublicId", "DebtCollectionActionPublicId", "ReminderInvoiceActionPublicId",
    "CreditingInvoicePublicId", "SourceActionPublicId", "EventId", "ActionType",
)
_ID_KEYS_LOWERED = tuple((name, name.lower()) for name in _ID_KEYS)
_TIME_KEYS = ("created", "timestamp", "eventdate", "eventtime", "occurred", "date")


class InvalidWebhook(ValueError):
    """The body cannot be a Billecta webhook; the message says why."""


@dataclass(frozen=True)
class BillectaEvent:
    type: str
    ids: Mapping[str, str] = field(default_factory=dict)
    occurred_at: str = ""

    @property
    def supported(self) -> bool:
        return self.type in SUPPORTED_EVENTS

    def id(self, name: str) -> str:
        return self.ids.get(name, "")

    @property
    def action_public_id(self) -> str:
        return self.id("ActionPublicId") or self.id("DebtCollectionActionPublicId")

    @property
    def object_key(self) -> str:
        """What the event is about, used to apply events for one object in order."""
        for name, prefix in (("ActionPublicId", "action"), ("DebtCollectionActionPublicId", "action"),
                             ("DebtorPublicId", "debtor"), ("UnhandledPaymentPublicId", "payment"),
                             ("PaymentPublicId", "payment")):
            if self.id(name):
                return f"{prefix}:{self.id(name)}"
        return ""


#: the types a JSON body's leaves have: never walked into, and told apart without the slower Mapping check
_JSON_LEAVES = frozenset({str, int, float, bool, type(None)})


def _walk(node: Any, depth: int = 0) -> list[tuple[str, Any]]:
    """All (key, value) pairs of nested mappings, shallow ones first."""
    if depth > 4:
        return []
    pairs: list[tuple[str, Any]] = []
    nested: list[Any] = []
    if type(node) is dict or isinstance(node, Mapping):
        for key, value in node.items():
            pairs.append((key if type(key) is str else str(key), value))
            if type(value) not in _JSON_LEAVES and isinstance(value, Mapping | list):
                nested.append(value)
    elif isinstance(node, list):
        nested.extend(v for v in node[:20] if isinstance(v, Mapping))
    for child in nested:
        pairs.extend(_walk(child, depth + 1))
    return pairs


def parse_billecta_event(payload: Any) -> BillectaEvent:
    if not isinstance(payload, Mapping):
        raise InvalidWebhook("the body must be a JSON object")
    # Every key's values in the order _walk finds them (shallow ones first), each key lowered once: the gateway
    # parses every webhook it receives.
    found_under: dict[str, list[Any]] = {}
    for key, value in _walk(payload):
        found_under.setdefault(key.lower(), []).append(value)
    event_type = ""
    for wanted in _TYPE_KEYS:
        for value in found_under.get(wanted, ()):
            if isinstance(value, str) and (event_type := value.strip()):
                break
        if event_type:
            break
    if not event_type:
        raise InvalidWebhook("no event type found (expected a key such as WebhookTriggerType or Type)")
    ids: dict[str, str] = {}
    for name, lowered in _ID_KEYS_LOWERED:
        for value in found_under.get(lowered, ()):
            if isinstance(value, (str, int)) and (text := str(value).strip()):
                ids[name] = text
                break
    # The time of the event is the envelope's: a data object (an InvoiceActionView, say) carries times of
    # its own, such as when the invoice was created, that must not be taken for when the event happened.
    occurred = ""
    for key, value in payload.items():
        if isinstance(value, str) and str(key).lower() in _TIME_KEYS:
            occurred = value
            break
    return BillectaEvent(type=event_type, ids=ids, occurred_at=occurred)


def missing_ids(event: BillectaEvent) -> tuple[str, ...]:
    """The ids a supported event needs but lacks (empty when it has one of them)."""
    needed = REQUIRED_ID.get(event.type, DEFAULT_REQUIRED_ID)
    return () if any(event.id(name) for name in needed) else needed
