"""The Lime webhook subscriptions the service asks for."""

from __future__ import annotations

from billecta_sync.inbound.lime_subscriptions import wanted_events
from billecta_sync.mappings import FieldMappings


def test_subscriptions_follow_the_customers_limetype_names() -> None:
    mappings = FieldMappings.build({"debtor": {"limetype": "customer"}})
    events = wanted_events(mappings)
    assert "customer.update" in events and "debtor.update" not in events
    assert {"orderrow.new", "orderrow.update", "person.update"} <= set(events)
