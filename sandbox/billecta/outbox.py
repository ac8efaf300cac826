"""Outbound webhooks of the Billecta sandbox: the bodies it sends for the triggers the state raises, and the
retrigger of failed deliveries.

Billecta's webhook body is NOT publicly documented (nothing in the notes' sources shows one). The bodies
sent here are invented, in one of two styles, so that the service is forced to parse defensively and
re-read the entity through the API:

* ``flat`` (default)::

    {"WebhookTriggerType": "InvoiceActionAttested", "CreditorPublicId": "...",
     "ActionPublicId": "...", "Created": "2024-05-01T12:00:00+02:00", "EventId": "<uuid>"}

  with ``DebtorPublicId`` / ``ProductPublicId`` instead of ``ActionPublicId`` for those entities.
* ``nested``::

    {"Type": "InvoiceActionAttested", "Timestamp": "...", "EventId": "<uuid>",
     "Data": {"CreditorPublicId": "...", "ActionPublicId": "..."}}

A re-sent delivery carries the same body, hence the same EventId. Each delivery is a POST with
``Content-Type: application/json`` plus the configured static headers (Billecta's only documented
receiver-authentication mechanism). Only the triggers ticked in the configuration are sent, as in
Billecta's portal.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from sandbox.billecta.config import BillectaSandboxConfig
from sandbox.billecta.state.core import iso, now
from sandbox.common import WebhookSender

RETRIGGER_WINDOW_S = 48 * 3600


class WebhookOutbox:
    """Turns raised triggers into deliveries of ``sender``; settings are read from ``config`` at each send."""

    def __init__(self, config: BillectaSandboxConfig, sender: WebhookSender) -> None:
        self.config = config
        self.sender = sender
        self.retriggered: set[int] = set()

    def clear(self) -> None:
        self.retriggered = set()

    def send(self, trigger: str, ids: dict[str, str]) -> None:
        config = self.config
        url = config.webhook_url
        if not url or trigger not in config.webhook_triggers:
            return
        event_id = str(uuid.uuid4())
        stamp = iso(now())
        payload: dict[str, Any]
        if config.webhook_payload_style == "nested":
            payload = {"Type": trigger, "Timestamp": stamp, "EventId": event_id, "Data": dict(ids)}
        else:
            payload = {"WebhookTriggerType": trigger, **ids, "Created": stamp, "EventId": event_id}
        headers = {"Content-Type": "application/json", **config.webhook_headers}
        self.sender.send(url, json.dumps(payload).encode("utf-8"), headers, trigger)

    def retrigger_failed(self, creditor_id: str) -> int:
        """Send again every failed delivery of the last 48 hours that concerns this creditor; returns how many."""
        since = time.time() - RETRIGGER_WINDOW_S
        count = 0
        for delivery in self.sender.deliveries(status="failed", since=since):
            try:
                payload = json.loads(delivery.body)
            except ValueError:
                continue
            ids = payload.get("Data") if isinstance(payload.get("Data"), dict) else payload
            if ids.get("CreditorPublicId") != creditor_id or delivery.id in self.retriggered:
                continue
            # A new delivery to the URL configured now (it may have been fixed since), sent once.
            self.retriggered.add(delivery.id)
            self.sender.send(self.config.webhook_url or delivery.url, delivery.body, delivery.headers, delivery.event)
            count += 1
        return count
