"""Webhook delivery: the deliveries made so far, sending one again, waiting until the sandbox is idle
(``/_sandbox``), and Billecta's retrigger of failed webhooks (``/v1``).

The bodies themselves are built by ``sandbox.billecta.outbox``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Response, jsonify, request

from sandbox.billecta.extension import Host
from sandbox.billecta.routing import Reply, Route, error_response
from sandbox.billecta.state.invoices import Invoices
from sandbox.billecta.state.masterdata import Creditors


def delivery_summary(delivery: Any) -> dict[str, Any]:
    summary = delivery.summary()
    summary["headers"] = dict(delivery.headers)
    try:
        summary["payload"] = json.loads(delivery.body)
    except ValueError:
        summary["payload"] = None
    return summary


def register(host: Host) -> None:
    store, sender = host.store, host.sender
    creditors = store.get(Creditors)
    invoices = store.get(Invoices)

    def retrigger_failed_webhooks(_body: None, creditor_id: str) -> Reply:
        with store.lock:
            creditors.find(creditor_id)
        return 200, {"Resent": host.outbox.retrigger_failed(creditor_id)}

    host.add_routes(
        Route("retrigger_failed_webhooks", "POST", "/v1/notifications/retriggerfailedwebhooks/<creditor_id>",
              retrigger_failed_webhooks, None, None, "U", "notes: webhooks", listed=False),
    )

    def webhooks() -> Response:
        status = request.args.get("status") or None
        event = request.args.get("event") or None
        deliveries = [
            delivery_summary(d)
            for d in sender.deliveries(status=status)
            if event is None or d.event == event
        ]
        # contract_problems: documented-style bodies that broke their view model and were not sent.
        return jsonify({"deliveries": deliveries, "pending": sender.pending_count(),
                        "contract_problems": list(host.outbox.problems)})

    def data_objects() -> Response:
        return jsonify(host.outbox.describe())

    def resend(delivery_id: int) -> Response:
        delivery = sender.resend(delivery_id)
        if delivery is None:
            return error_response(404, f"No webhook delivery {delivery_id}")
        return jsonify(delivery_summary(delivery))

    def wait_idle() -> Response:
        """Wait until no automatic state change is scheduled and every delivery has settled."""
        try:
            timeout = float(request.args.get("timeout", "10"))
        except ValueError:
            return error_response(400, "timeout must be a number of seconds")
        deadline = time.monotonic() + timeout
        idle = False
        while True:
            remaining = deadline - time.monotonic()
            # Checked twice: a scheduled change may fire and queue a delivery while we wait.
            if (
                invoices.scheduled_count() == 0
                and sender.wait_idle(max(remaining, 0.0))
                and invoices.scheduled_count() == 0
                and sender.wait_idle(0.05)
            ):
                idle = True
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        body = {
            "idle": idle,
            "scheduled": invoices.scheduled_count(),
            "pending": sum(1 for d in sender.deliveries() if d.status == "pending"),
        }
        resp = jsonify(body)
        resp.status_code = 200 if idle else 504
        return resp

    host.add_admin("/_sandbox/webhooks", "webhooks", webhooks, ["GET"])
    host.add_admin("/_sandbox/webhooks/data-objects", "webhooks_data_objects", data_objects, ["GET"])
    host.add_admin("/_sandbox/webhooks/wait-idle", "webhooks_wait_idle", wait_idle)
    host.add_admin("/_sandbox/webhooks/<int:delivery_id>/resend", "webhooks_resend", resend)
