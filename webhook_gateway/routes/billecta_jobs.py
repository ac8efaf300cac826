"""Billecta → Lime commands: retrigger Billecta's failed webhooks, and Billecta's event log of an object.

Neither calls Billecta here (the gateway holds no Billecta credentials): both publish a task and, for
the event log, wait briefly for its answer.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from billecta_sync import monitor, tasknames
from billecta_sync.usecases.jobs.retrigger import CREDITORS_IN_BILLECTA, OPERATION, TITLE
from webhook_gateway.auth import require_scope
from webhook_gateway.body import json_object_body
from webhook_gateway.context import gateway
from webhook_gateway.errors import ApiError
from webhook_gateway.openapi import Doc, documented, ref
from webhook_gateway.publisher import TaskFailed

log = logging.getLogger("webhook_gateway.billecta_jobs")
bp = Blueprint("billecta_jobs", __name__)

EVENT_LOG_LIMETYPES = ("invoice", "debtcollection")
MIN_EVENT_LOG_WAIT_S = 10.0  # one Lime read and one Billecta read; longer than a batch start


@bp.post("/task/billecta-retrigger-failed-webhooks")
@documented(Doc("Ask Billecta to resend its failed webhooks", "commands",
                description="One monitor batch with a task per Lime creditor that exists in Billecta; each "
                            "asks Billecta to resend that creditor's failed webhooks of the last 48 hours "
                            "(Billecta path unverified). Body: {} or {\"integration_monitor_batch_title\"}.",
                responses={200: ("queued", None), 400: ("invalid body", ref("Error")),
                           503: ("the batch could not be stored", ref("Error"))}))
@require_scope("commands")
def retrigger_failed_webhooks() -> tuple[Response, int]:
    gw = gateway()
    # Lime's button posts {}; an empty body means the same.
    body = json_object_body(gw.settings.gateway.max_body_bytes) if request.content_length else {}
    unknown = sorted(set(body) - {"integration_monitor_batch_title"})
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(unknown)}", error="invalid_body", field=unknown[0])
    title = body.get("integration_monitor_batch_title") or TITLE
    if not isinstance(title, str):
        raise ApiError(400, "integration_monitor_batch_title must be a string", error="invalid_body")
    try:
        batch_id = monitor.create_batch(gw.db, title[:200], OPERATION, CREDITORS_IN_BILLECTA,
                                        params={"limetype": "creditor"})
    except SQLAlchemyError as exc:
        log.warning("could not create a retrigger batch (%s)", type(exc).__name__)
        raise ApiError(503, "the batch could not be stored; retry later", error="unavailable") from None
    try:
        task_id = gw.publisher.publish(tasknames.START_BATCH, [batch_id], tasknames.QUEUE_INTERACTIVE)
    except Exception as exc:  # the batch row is durable; the sweeper starts it
        log.warning("could not queue batch %s (%s); the sweeper will start it", batch_id, type(exc).__name__)
        task_id = ""
    return jsonify(task_id=task_id, status="success", integration_monitor_batch_id=batch_id), 200


@bp.get("/billecta/event-log/<limetype>/<object_id>")
@documented(Doc("Billecta's event log of an invoice or debt collection case", "commands",
                description="Newest first; eventdate as 'YYYY-MM-DD HH:MM:SS'.",
                responses={200: ("the events", None), 400: ("unknown limetype or bad id", ref("Error")),
                           404: ("object missing or without Billecta id", ref("Error")),
                           502: ("the lookup failed", ref("Error")), 504: ("no answer in time", ref("Error"))}))
@require_scope("commands", "operator")
def event_log(limetype: str, object_id: str) -> Response:
    if limetype not in EVENT_LOG_LIMETYPES or not object_id.isdigit():
        raise ApiError(400, "Invalid limetype or ID", error="invalid_request", error_message="Invalid limetype or ID")
    gw = gateway()
    task_id = gw.publisher.publish(tasknames.EVENT_LOG, [limetype, int(object_id)], tasknames.QUEUE_INTERACTIVE,
                                   want_result=True)
    try:
        result = gw.publisher.wait(task_id, max(gw.settings.gateway.command_wait_s, MIN_EVENT_LOG_WAIT_S))
    except TaskFailed as exc:
        raise ApiError(502, f"the event log could not be read: {exc}", error="lookup_failed",
                       error_message=str(exc)) from None
    if result is None:
        raise ApiError(504, "no answer in time; try again", error="timeout", error_message="no answer in time")
    status = int(result.get("status", 502))
    if status != 200:
        message = str(result.get("error_message") or "lookup failed")
        raise ApiError(status, message, error="not_found" if status == 404 else "invalid_request",
                       error_message=message)
    return jsonify(result["events"])
