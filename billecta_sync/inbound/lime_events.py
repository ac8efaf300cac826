"""Change-driven Lime → Billecta sync: Lime's webhooks (docs: notes/lime-crm.md §2) start the same use-cases
as the batch commands, but only when something Billecta is sent actually changed.

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
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from billecta_sync import inbox
from billecta_sync.container import Services
from billecta_sync.db import InboxStatus
from billecta_sync.errors import PermanentError
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.mappings import FieldMappings
from billecta_sync.retry import is_retryable
from billecta_sync.usecases.common import option_key, relation_id, text
from billecta_sync.usecases.lime_to_billecta.articles import upsert_article
from billecta_sync.usecases.lime_to_billecta.debtors import anonymize_person, upsert_debtor
from billecta_sync.usecases.lime_to_billecta.orders import upsert_attest_order

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
# An order is re-sent by a change only while Billecta still lets it change and the user has not yet
# been told it is final; the first send of an order stays a user's decision (the commands).
RESYNC_ORDER_STATUSES = frozenset({"created", "errorupsert", "errorattest"})


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


def _changed(name: str, original: dict[str, Any] | None) -> set[str]:
    """Synced properties that changed; for a new object (no original values), all of them."""
    if original is None:
        return set(SYNCED_FIELDS[name])
    return set(original) & SYNCED_FIELDS[name]


def _resync_orders(services: Services, order_ids: set[int]) -> str:
    repo = LimeRepo(services.lime, services.mappings)
    outcomes = []
    for order_id in sorted(order_ids):
        order = repo.get_or_none("order", order_id)
        if order is None:
            outcomes.append(f"order {order_id} is gone")
            continue
        status = option_key(order.get("orderstatus")) or ""
        sent = bool(text(order.get("actionpublicid")))
        if status not in RESYNC_ORDER_STATUSES or (status == "created" and not sent):
            outcomes.append(f"order {order_id} is {status or 'new'}; not re-sent")
            continue
        outcomes.append(upsert_attest_order(services, order_id, attest=False))
    return "; ".join(outcomes)


def plan(services: Services, event: LimeEvent) -> str:
    """Run what the change calls for; returns what was done."""
    name, values, original = logical(services.mappings, event)
    if name not in SYNCED_FIELDS or event.action not in ACTIONS:
        return f"nothing to do for {event.event}"
    changed = _changed(name, original)
    if not changed:
        return f"{event.event} {event.object_id}: no synced property changed"
    oid = event.object_id
    if name == "debtor":
        return upsert_debtor(services, oid)
    if name == "creditordebtor":
        debtor_id = relation_id(values.get("debtor"))
        return upsert_debtor(services, debtor_id) if debtor_id else "relation without a debtor"
    if name == "article":
        return upsert_article(services, oid)
    if name == "creditorarticle":
        article_id = relation_id(values.get("article"))
        return upsert_article(services, article_id) if article_id else "relation without an article"
    if name == "order":
        return _resync_orders(services, {oid})
    if name == "orderrow":
        orders = {relation_id(values.get("order"))}
        if original is not None and "order" in original:
            orders.add(relation_id(original.get("order")))  # moved: the order it left changed too
        return _resync_orders(services, {o for o in orders if o is not None})
    if name == "person":
        if values.get("anonymized") in (True, 1, "1", "true", "True"):
            return anonymize_person(services, oid)
        return f"person {oid} is not anonymised"
    return f"nothing to do for {event.event}"


def process_lime_webhook(services: Services, inbox_id: int, *, final_attempt: bool = True,
                         runner: Callable[[Services, LimeEvent], str] = plan) -> str:
    row, skipped = inbox.claim_unique(services.db, inbox_id, services.settings.worker.inbox_lease_s)
    if row is None:
        return skipped
    try:
        event = parse_lime_event(json.loads(row.body))
    except (InvalidLimeWebhook, ValueError) as exc:
        inbox.finish(services.db, inbox_id, InboxStatus.IGNORED, error=f"unreadable: {exc}")
        return f"ignored: {exc}"
    try:
        outcome = runner(services, event)
    except PermanentError as exc:
        # Shown on the Lime object (billecta_error_message) and in the row; retrying cannot help.
        inbox.finish(services.db, inbox_id, InboxStatus.PROCESSED, error=f"refused: {exc}",
                     event_type=event.event, object_key=event.object_key)
        return f"refused: {exc}"
    except Exception as exc:
        final = final_attempt or not is_retryable(exc)
        inbox.fail(services.db, inbox_id, f"{type(exc).__name__}: {exc}", final=final,
                   retry_in_s=services.settings.worker.retry_backoff_max_s)
        raise
    inbox.finish(services.db, inbox_id, InboxStatus.PROCESSED, event_type=event.event, object_key=event.object_key)
    return outcome
