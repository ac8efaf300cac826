"""Reading Lime's webhooks (docs: notes/lime-crm.md §2): signature, event, logical values, and whether a
change concerns a synced property at all (billecta_sync.usecases.lime_to_billecta.changes acts on it).

A delivery is ``{"event": "<limetype>.<new|update|delete|restore>", "body": {"id", "limetype", "values",
"original_values"?}}``, signed with ``X-Lime-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>``. In an
update, ``original_values`` holds only the changed properties (with their old values); the service acts
when one of them feeds a Billecta payload. ``values`` carries relations as plain ids and options as keys.

Our own writes come back as webhooks too (public ids, statuses, error messages); none of those properties
feeds a payload, so they end here as "nothing to do" instead of looping.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from billecta_sync.mappings import FieldMappings

SIGNATURE_HEADER = "X-Lime-Signature"
ACTIONS = ("new", "update")  # delete/restore payloads are undocumented; see docs/architecture.md

# Logical properties, per logical limetype, that some Billecta payload is built from.
SYNCED_FIELDS: dict[str, frozenset[str]] = {
    "debtor": frozenset({"name", "ssnregno", "contactname", "email", "maincontactphone", "address", "zipcode",
                         "city", "countrycode", "debtortype", "person"}),
    "creditordebtor": frozenset({"creditor", "debtor"}),
    "article": frozenset({"articlenumber", "name", "unit", "unitprice", "vat", "articletype",
                          "bookkeepingaccount", "isactive"}),
    "creditorarticle": frozenset({"creditor", "article"}),
    "order": frozenset({"creditor", "debtor", "invoicedate", "paymenttermsindays", "deliverymethod",
                        "ourreference", "yourreference", "message"}),
    "orderrow": frozenset({"order", "article", "rowtype", "description", "quantity", "unitprice", "vat",
                           "discountpercentage", "position"}),
    "person": frozenset({"anonymized"}),
}
class InvalidLimeWebhook(ValueError):
    pass


@dataclass(frozen=True)
class LimeEvent:
    event: str
    limetype: str  # Lime's own limetype name
    action: str
    object_id: int
    values: Mapping[str, Any] = field(default_factory=dict)
    original_values: Mapping[str, Any] | None = None

    @property
    def object_key(self) -> str:
        return f"{self.limetype}:{self.object_id}"


def signature_ok(secret: str, raw: bytes, header: str | None) -> bool:
    """Constant-time check of ``sha256=<hex>`` against the raw body."""
    if not secret or not header or not header.startswith("sha256="):
        return False
    wanted = hmac.new(secret.encode("utf-8"), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(wanted, header.removeprefix("sha256=").strip().lower())


def sign(secret: str, raw: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), raw, hashlib.sha256).hexdigest()


def parse_lime_event(payload: Any) -> LimeEvent:
    if not isinstance(payload, dict):
        raise InvalidLimeWebhook("the body must be a JSON object")
    event = payload.get("event")
    if not isinstance(event, str) or event.count(".") != 1:
        raise InvalidLimeWebhook("event must be '<limetype>.<action>'")
    limetype, action = event.split(".")
    body = payload.get("body")
    if not isinstance(body, dict):
        raise InvalidLimeWebhook("body must be an object")
    raw_id = body.get("id", (body.get("values") or {}).get("id") if isinstance(body.get("values"), dict) else None)
    if isinstance(raw_id, bool) or not isinstance(raw_id, int | str) or not str(raw_id).isdigit():
        raise InvalidLimeWebhook("body.id must be the object's integer id")
    values = body.get("values") if isinstance(body.get("values"), dict) else {}
    original = body.get("original_values") if isinstance(body.get("original_values"), dict) else None
    return LimeEvent(event, str(body.get("limetype") or limetype), action, int(raw_id), values, original)


def logical(mappings: FieldMappings, event: LimeEvent) -> tuple[str | None, dict[str, Any], dict[str, Any] | None]:
    """The event's logical limetype, values and original values (unmapped properties dropped)."""
    name = mappings.logical_limetype_of(event.limetype)
    if name is None:
        return None, {}, None
    mapping = mappings[name]

    def convert(values: Mapping[str, Any]) -> dict[str, Any]:
        out = {}
        for prop, value in values.items():
            key = mapping.logical_of(prop)
            if key is not None:
                out[key] = value
        return out

    original = convert(event.original_values) if event.original_values is not None else None
    return name, convert(event.values), original


def is_relevant(mappings: FieldMappings, event: LimeEvent) -> bool:
    """Worth storing as queued (cheap check in the gateway): a synced limetype, a handled action."""
    name = mappings.logical_limetype_of(event.limetype)
    return name in SYNCED_FIELDS and event.action in ACTIONS
