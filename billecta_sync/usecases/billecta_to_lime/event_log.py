"""Billecta's event history of a Lime invoice or debt collection case, newest first, for the Lime UI."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from billecta_sync.billecta.errors import BillectaApiNotFoundException
from billecta_sync.container import Services
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.usecases.common import text

# Lime limetype (logical) -> Billecta route that returns the action with its Events[]
SOURCES = {"invoice": "invoice.get", "debtcollection": "debtcollection.get"}


def event_time(value: Any) -> str:
    """Billecta's ISO date-time as "YYYY-MM-DD HH:MM:SS" (as Billecta wrote it, no zone shift)."""
    raw = text(value).replace("T", " ")
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return raw[:19]


def format_events(events: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Newest first. Sorted on the full timestamp (the shown one drops fractions of a second), and
    events with the same timestamp keep Billecta's order, reversed: Billecta appends as things happen."""
    kept = [(i, e) for i, e in enumerate(events) if isinstance(e, dict)]
    kept.sort(key=lambda pair: (_instant(pair[1].get("EventDate")), pair[0]), reverse=True)
    return [{"eventdate": event_time(e.get("EventDate")), "eventtype": text(e.get("EventType")),
             "title": text(e.get("Title")), "content": text(e.get("Content"))} for _, e in kept]


def _instant(value: Any) -> str:
    try:
        parsed = datetime.fromisoformat(text(value).replace("Z", "+00:00"))
    except ValueError:
        return text(value)
    return parsed.replace(tzinfo=None).isoformat(timespec="microseconds")


def event_log(services: Services, limetype: str, object_id: int) -> dict[str, Any]:
    """``{"status": 200, "events": [...]}``, or a 404 with ``error_message``; never raises for a miss."""
    route = SOURCES.get(limetype)
    if route is None:
        return {"status": 400, "error_message": f"no event log for limetype {limetype!r}"}
    found = LimeRepo(services.lime, services.mappings).get_or_none(limetype, object_id)
    if found is None or not text(found.get("actionpublicid")):
        return {"status": 404, "error_message": "Object not found or missing Billecta ID"}
    try:
        action = services.billecta.call(route, {"action_public_id": text(found["actionpublicid"])})
    except BillectaApiNotFoundException:
        return {"status": 404, "error_message": "Object not found in Billecta"}
    return {"status": 200, "events": format_events(list((action or {}).get("Events") or []))}
