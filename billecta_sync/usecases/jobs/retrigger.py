"""Asking Billecta to send again the webhooks it failed to deliver (per creditor, last 48 hours)."""

from __future__ import annotations

from typing import Any

from billecta_sync import catalogue, monitor
from billecta_sync.container import Services
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.queueing import publish_job
from billecta_sync.usecases.common import text

OPERATION = "retrigger_failed_webhooks"
TITLE = "Retrigger failed Billecta webhooks"
# Lime creditors that exist in Billecta ("!" is Lime's not-equal).
CREDITORS_IN_BILLECTA: dict[str, Any] = {"key": "creditorpublicid", "op": "!", "exp": ""}
LOOKBACK_HOURS = 48


def retrigger_failed_webhooks(services: Services, creditor_id: int) -> str:
    creditor = LimeRepo(services.lime, services.mappings).get("creditor", creditor_id)
    public_id = text(creditor.get("creditorpublicid"))
    if not public_id:
        return f"creditor {creditor_id} is not in Billecta; nothing to retrigger"
    # The route is unverified (routes.py); Billecta's own retrigger covers its last 48 hours.
    answer = services.billecta.call("webhooks.retrigger_failed", {"creditor_public_id": public_id})
    count = answer.get("Resent") if isinstance(answer, dict) else None
    suffix = f": {count} webhook(s) sent again" if count is not None else ""
    return f"Billecta asked to resend failed webhooks of the last {LOOKBACK_HOURS} h for creditor {public_id}{suffix}"


def create_nightly_batch(services: Services) -> int:
    """The batch beat starts at night: one log per Lime creditor that exists in Billecta."""
    return monitor.create_batch(services.db, f"{TITLE} (nightly)", OPERATION, CREDITORS_IN_BILLECTA,
                                params={"limetype": "creditor"})


def start_nightly_batch(services: Services) -> int:
    """Beat's nightly run: the batch, and its start queued (the sweeper starts it if the broker refuses)."""
    batch_id = create_nightly_batch(services)
    publish_job(services.task_queue(), catalogue.START_BATCH, batch_id)
    return batch_id
