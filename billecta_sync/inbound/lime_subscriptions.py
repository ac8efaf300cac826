"""Registering the service's Lime webhook subscriptions through Lime's subscription API (idempotent).

List what exists, create one subscription for the events no enabled subscription to the same target URL
covers yet, and report. The secret is the service's ``LIME_WEBHOOK_SECRET``, so every delivery is signed
with what the gateway verifies. Needs a Lime API user that is an administrator or in "Webhook Users".
"""

from __future__ import annotations

from typing import Any

from billecta_sync.inbound.lime_events import ACTIONS, SYNCED_FIELDS
from billecta_sync.lime import LimeClient
from billecta_sync.mappings import FieldMappings

SUBSCRIPTION_NAME = "billecta-sync"


def wanted_events(mappings: FieldMappings) -> list[str]:
    """``<limetype>.<action>`` for every synced limetype, in the customer's own limetype names."""
    return sorted(f"{mappings[logical].limetype}.{action}" for logical in SYNCED_FIELDS for action in ACTIONS)


def ensure_subscriptions(client: LimeClient, mappings: FieldMappings, target_url: str, secret: str
                         ) -> dict[str, Any]:
    wanted = wanted_events(mappings)
    covered: set[str] = set()
    for sub in client.list_subscriptions():
        if sub.get("target_url") == target_url and sub.get("enabled", True):
            covered.update(str(e) for e in sub.get("events") or [])
    missing = [e for e in wanted if e not in covered]
    created: dict[str, Any] = {}
    if missing:
        created = client.create_subscription(missing, target_url, secret=secret, name=SUBSCRIPTION_NAME)
    return {"target_url": target_url, "already_subscribed": sorted(set(wanted) & covered), "created": missing,
            "subscription_id": created.get("id")}
