"""Lime commands that start a batch, and the batch status they can poll.

Every batch command has the same shape (title + query filter -> a monitor batch and a START_BATCH
task), so each is one ``BatchCommand`` entry; the route, its validation and its OpenAPI description
all come from the table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy.exc import SQLAlchemyError

from billecta_sync import monitor, tasknames
from billecta_sync.lime.query import validate_filter
from webhook_gateway.auth import require_scope
from webhook_gateway.body import json_object_body
from webhook_gateway.context import gateway
from webhook_gateway.errors import ApiError
from webhook_gateway.openapi import Doc, documented, ref
from webhook_gateway.publisher import TaskFailed

log = logging.getLogger("webhook_gateway.commands")
bp = Blueprint("commands", __name__)

TITLE_FIELD = "integration_monitor_batch_title"
FILTER_FIELD = "query_filter"
MAX_TITLE = 200


@dataclass(frozen=True)
class BatchCommand:
    path: str  # under {prefix}/task/
    operation: str  # monitor batch operation, read by the START_BATCH worker
    limetype: str
    default_title: str
    summary: str
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def batch_params(self) -> dict[str, Any]:
        return {"limetype": self.limetype, **self.params}


# One entry per command; each operation has its use-case in billecta_sync/usecases/jobs/batches.py.
BATCH_COMMANDS: tuple[BatchCommand, ...] = (
    BatchCommand(
        path="upsert-attest-orders-in-billecta",
        operation="upsert_attest_orders",
        limetype="order",
        default_title="Upsert & attest orders in Billecta",
        summary="Create or update orders in Billecta and attest them",
        params=MappingProxyType({"attest": True}),
    ),
    BatchCommand(
        path="upsert-orders-in-billecta",
        operation="upsert_orders",
        limetype="order",
        default_title="Upsert orders in Billecta",
        summary="Create or update orders in Billecta without attesting them",
        params=MappingProxyType({"attest": False}),
    ),
    BatchCommand(
        path="attest-orders-in-billecta",
        operation="attest_orders",
        limetype="order",
        default_title="Attest orders in Billecta",
        summary="Attest orders already sent to Billecta (never twice)",
    ),
    BatchCommand(
        path="upsert-debtors-in-billecta",
        operation="upsert_debtors",
        limetype="debtor",
        default_title="Upsert debtors in Billecta",
        summary="Create or update debtors in Billecta, once per creditor relation",
    ),
    BatchCommand(
        path="anonymize-debtors-in-billecta",
        operation="anonymize_debtors",
        limetype="debtor",
        default_title="Anonymize debtors in Billecta",
        summary="Anonymise synced debtors in Billecta (GDPR; Billecta path unverified)",
    ),
    BatchCommand(
        path="upsert-articles-in-billecta",
        operation="upsert_articles",
        limetype="article",
        default_title="Upsert articles in Billecta",
        summary="Create or update articles as Billecta products, once per creditor relation",
    ),
    BatchCommand(
        path="delete-articles-in-billecta",
        operation="delete_articles",
        limetype="article",
        default_title="Delete articles in Billecta",
        summary="Delete articles' Billecta products (deactivated instead when used on invoices)",
    ),
    BatchCommand(
        path="credit-invoices-in-billecta",
        operation="credit_invoices",
        limetype="invoice",
        default_title="Credit invoices in Billecta",
        summary="Credit invoices in full in Billecta and link the credit invoice in Lime",
    ),
)


def parse_command_body(body: Mapping[str, Any], command: BatchCommand) -> tuple[str, Any]:
    """The batch title and query filter, or a 400 naming the faulty field."""
    unknown = sorted(set(body) - {TITLE_FIELD, FILTER_FIELD})
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(unknown)}", error="invalid_body", field=unknown[0])
    title = body.get(TITLE_FIELD, command.default_title)
    if not isinstance(title, str) or not title.strip():
        raise ApiError(400, f"{TITLE_FIELD} must be a non-empty string", error="invalid_body", field=TITLE_FIELD)
    if len(title) > MAX_TITLE:
        raise ApiError(400, f"{TITLE_FIELD} must be at most {MAX_TITLE} characters", error="invalid_body",
                       field=TITLE_FIELD)
    if FILTER_FIELD not in body:
        raise ApiError(400, f"{FILTER_FIELD} is required", error="invalid_body", field=FILTER_FIELD)
    query_filter = body[FILTER_FIELD]
    try:
        validate_filter(query_filter, FILTER_FIELD)
    except ValueError as exc:
        raise ApiError(400, str(exc), error="invalid_query_filter", field=FILTER_FIELD) from None
    return title.strip(), query_filter


def _queued(batch_id: int) -> tuple[Response, int]:
    return jsonify(integration_monitor_batch_id=batch_id, status="queued"), 202


def start_batch_command(command: BatchCommand) -> tuple[Response, int]:
    gw = gateway()
    title, query_filter = parse_command_body(json_object_body(gw.settings.gateway.max_body_bytes), command)
    return launch_batch(command, title, query_filter)


def launch_batch(command: BatchCommand, title: str, query_filter: Any) -> tuple[Response, int]:
    """Store the batch, publish its start and wait briefly for the answer (shared by every batch route)."""
    gw = gateway()
    try:
        batch_id = monitor.create_batch(gw.db, title, command.operation, query_filter,
                                        params=command.batch_params())
    except SQLAlchemyError as exc:
        log.warning("could not create a %s batch (%s)", command.operation, type(exc).__name__)
        raise ApiError(503, "the batch could not be stored; retry later", error="unavailable") from None

    wait_s = gw.settings.gateway.command_wait_s
    try:
        task_id = gw.publisher.publish(tasknames.START_BATCH, [batch_id], tasknames.QUEUE_INTERACTIVE,
                                       want_result=wait_s > 0)
    except Exception as exc:  # any broker failure: the batch row is durable and the sweeper starts it
        log.warning("could not queue batch %s (%s); the sweeper will start it", batch_id, type(exc).__name__)
        return _queued(batch_id)
    if wait_s <= 0:
        return _queued(batch_id)
    try:
        result = gw.publisher.wait(task_id, wait_s)
    except TaskFailed as exc:
        raise ApiError(502, f"the batch could not be started: {exc}", error="start_failed",
                       integration_monitor_batch_id=batch_id) from None
    if result is None:
        return _queued(batch_id)
    if isinstance(result, Mapping) and result.get("error"):
        raise ApiError(502, f"the batch could not be started: {result['error']}", error="start_failed",
                       integration_monitor_batch_id=batch_id)
    total = int(result.get("total", 0)) if isinstance(result, Mapping) else 0
    return jsonify(integration_monitor_batch_id=batch_id, status="running", total=total), 200


def _command_doc(command: BatchCommand) -> Doc:
    return Doc(
        command.summary,
        "commands",
        description=f"Creates an integration monitor batch (operation {command.operation}, limetype "
                    f"{command.limetype}) and starts it. Default title: {command.default_title!r}.",
        request_schema=ref("BatchCommand"),
        responses={
            200: ("started: one task per object is queued", ref("BatchStarted")),
            202: ("stored and queued; not started within the wait, poll the batch", ref("BatchQueued")),
            400: ("invalid body; field names the culprit", ref("Error")),
            413: ("body too large", ref("Error")),
            415: ("body is not JSON", ref("Error")),
            502: ("the start task failed (e.g. Lime unreachable)", ref("BatchStartFailed")),
            503: ("the batch could not be stored", ref("Error")),
        },
    )


def _make_view(command: BatchCommand) -> Callable[[], tuple[Response, int]]:
    def view() -> tuple[Response, int]:
        return start_batch_command(command)

    view.__name__ = f"command_{command.operation}"
    return documented(_command_doc(command))(require_scope("commands")(view))


for _command in BATCH_COMMANDS:
    bp.add_url_rule(f"/task/{_command.path}", endpoint=f"command_{_command.operation}",
                    view_func=_make_view(_command), methods=["POST"])


@bp.get("/monitor/batches/<int:batch_id>")
@documented(Doc("Status of an integration monitor batch", "commands",
                responses={200: ("the batch with its counts and logs", ref("BatchSummary")),
                           404: ("no such batch", ref("Error"))}))
@require_scope("commands", "operator")
def batch_status(batch_id: int) -> Response:
    summary = monitor.batch_summary(gateway().db, batch_id)
    if summary is None:
        raise ApiError(404, f"no batch {batch_id}")
    return jsonify(summary)
