"""Lime commands that do not take a query filter: update one creditor, add a message row to an order.

"Update creditor in Billecta" is a one-object batch (the same monitor batch, START_BATCH task and log as
every batch command). "Add message to orderrow" is answered while the user waits: the gateway publishes
an interactive task and waits up to ``GATEWAY_COMMAND_WAIT_S`` for the row it created.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, jsonify

from billecta_sync import tasknames
from webhook_gateway.auth import require_scope
from webhook_gateway.body import json_object_body
from webhook_gateway.context import gateway
from webhook_gateway.errors import ApiError
from webhook_gateway.openapi import Doc, documented, ref
from webhook_gateway.publisher import TaskFailed
from webhook_gateway.routes.commands import MAX_TITLE, TITLE_FIELD, BatchCommand, launch_batch

log = logging.getLogger("webhook_gateway.outbound")
bp = Blueprint("outbound", __name__)

UPDATE_CREDITOR = BatchCommand(
    path="update-creditor-in-billecta",
    operation="update_creditor",
    limetype="creditor",
    default_title="Update creditor in Billecta",
    summary="Update one creditor and its default action config in Billecta",
)
MAX_DESCRIPTION = 1000


def _fields(body: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(unknown)}", error="invalid_body", field=unknown[0])


def _positive_id(body: Mapping[str, Any], name: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ApiError(400, f"{name} must be a positive integer", error="invalid_body", field=name)
    return value


@bp.post("/task/update-creditor-in-billecta")
@documented(Doc(
    UPDATE_CREDITOR.summary, "commands",
    description="Creates a one-object integration monitor batch (operation update_creditor) and starts it.",
    request_schema={"type": "object", "required": ["creditor_id"], "additionalProperties": False,
                    "properties": {TITLE_FIELD: {"type": "string", "minLength": 1, "maxLength": MAX_TITLE},
                                   "creditor_id": {"type": "integer", "minimum": 1}}},
    responses={200: ("started", ref("BatchStarted")),
               202: ("stored and queued; poll the batch", ref("BatchQueued")),
               400: ("invalid body; field names the culprit", ref("Error")),
               502: ("the start task failed", ref("BatchStartFailed")),
               503: ("the batch could not be stored", ref("Error"))}))
@require_scope("commands")
def update_creditor() -> tuple[Response, int]:
    body = json_object_body(gateway().settings.gateway.max_body_bytes)
    _fields(body, {TITLE_FIELD, "creditor_id"})
    creditor_id = _positive_id(body, "creditor_id")
    title = body.get(TITLE_FIELD, UPDATE_CREDITOR.default_title)
    if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE:
        raise ApiError(400, f"{TITLE_FIELD} must be a non-empty string of at most {MAX_TITLE} characters",
                       error="invalid_body", field=TITLE_FIELD)
    return launch_batch(UPDATE_CREDITOR, title.strip(), {"key": "_id", "op": "=", "exp": creditor_id})


@bp.post("/add-message-to-orderrow/")
@documented(Doc(
    "Insert a message row right after an order row", "commands",
    description="Creates an order row of type message after the given row and renumbers the order's rows. "
                "Waits for the worker; only orders not yet attested can change.",
    request_schema={"type": "object", "required": ["orderrow_id", "orderrow_description"],
                    "additionalProperties": False,
                    "properties": {"orderrow_id": {"type": "integer", "minimum": 1},
                                   "orderrow_description": {"type": "string", "minLength": 1,
                                                            "maxLength": MAX_DESCRIPTION}}},
    responses={200: ("the row was added (empty body)", None),
               202: ("queued; not done within the wait", None),
               400: ("invalid body", ref("Error")),
               409: ("the row cannot get a message (missing row, order already attested...)", ref("Error")),
               502: ("the task failed", ref("Error")),
               503: ("the task could not be queued", ref("Error"))}))
@require_scope("commands")
def add_message_to_orderrow() -> tuple[Response, int]:
    gw = gateway()
    body = json_object_body(gw.settings.gateway.max_body_bytes)
    _fields(body, {"orderrow_id", "orderrow_description"})
    orderrow_id = _positive_id(body, "orderrow_id")
    description = body.get("orderrow_description")
    if not isinstance(description, str) or not description.strip() or len(description) > MAX_DESCRIPTION:
        raise ApiError(400, f"orderrow_description must be a non-empty string of at most {MAX_DESCRIPTION} "
                            "characters", error="invalid_body", field="orderrow_description")
    try:
        task_id = gw.publisher.publish(tasknames.ADD_MESSAGE_TO_ORDERROW, [orderrow_id, description],
                                       tasknames.QUEUE_INTERACTIVE, want_result=True)
    except Exception as exc:  # nothing stored: the user can press again
        log.warning("could not queue add-message (%s)", type(exc).__name__)
        raise ApiError(503, "the request could not be queued; retry later", error="unavailable") from None
    try:
        result = gw.publisher.wait(task_id, max(gw.settings.gateway.command_wait_s, 1.0))
    except TaskFailed as exc:
        raise ApiError(502, f"the message row could not be added: {exc}", error="task_failed") from None
    if result is None:
        return jsonify(status="queued", task_id=task_id), 202
    if isinstance(result, Mapping) and result.get("error"):
        raise ApiError(409, str(result["error"]), error="refused")
    return Response(status=200), 200
