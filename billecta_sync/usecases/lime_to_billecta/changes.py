"""Change-driven Lime → Billecta sync: a Lime webhook starts the same use-cases as the batch commands, but
only when something Billecta is sent actually changed.

Our own writes come back as webhooks too (public ids, statuses, error messages); none of those properties
feeds a payload, so they end here as "nothing to do" instead of looping.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from billecta_sync.container import Services
from billecta_sync.inbound.lime_events import ACTIONS, SYNCED_FIELDS, LimeEvent, logical
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.usecases.common import option_key, relation_id, text
from billecta_sync.usecases.lime_to_billecta.articles import upsert_article
from billecta_sync.usecases.lime_to_billecta.debtors import anonymize_person, upsert_debtor
from billecta_sync.usecases.lime_to_billecta.orders import upsert_attest_order

# An order is re-sent by a change only while Billecta still lets it change and the user has not yet
# been told it is final; the first send of an order stays a user's decision (the commands).
RESYNC_ORDER_STATUSES = frozenset({"created", "errorupsert", "errorattest"})


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


def handler_for(event: LimeEvent) -> Callable[[Services, LimeEvent], str]:
    """Every Lime change goes through ``plan``, which decides what (if anything) it calls for."""
    return plan
