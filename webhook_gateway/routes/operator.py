"""Operator endpoints: look into the inbox and dead letters, and replay inbox rows.

Replaying only resets rows to ``received`` and publishes them again; the worker's claim makes a
replay of a row that is being processed (or published twice) harmless.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select

from billecta_sync import inbox
from billecta_sync.db import DeadLetter, InboxStatus, ReplayAudit, WebhookInbox
from billecta_sync.inbound import delivery
from webhook_gateway.auth import presented_key, require_scope
from webhook_gateway.body import json_object_body
from webhook_gateway.console.security import fingerprint
from webhook_gateway.context import gateway
from webhook_gateway.errors import ApiError
from webhook_gateway.limits import MAX_REPLAY_IDS, MAX_ROW_ID
from webhook_gateway.openapi import DB_UNAVAILABLE, Doc, QueryParam, documented, ref

log = logging.getLogger("webhook_gateway.operator")
bp = Blueprint("operator", __name__)

SOURCES = tuple(delivery.SOURCES)
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
DEFAULT_REPLAY_LIMIT = 1000
MAX_REPLAY_LIMIT = MAX_REPLAY_IDS
REPLAY_FIELDS = ("ids", "status", "since", "until", "source", "limit")


def _iso(value: datetime | None) -> str | None:
    # Stored times are naive UTC.
    return value.isoformat() + "Z" if value else None


_INTEGER = re.compile(r"-?[0-9]{1,19}")


def _int_arg(name: str, default: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    # Plain digits only: int() would also take " 7", "+7" and "7_000", which the document does not allow.
    if not _INTEGER.fullmatch(raw):
        raise ApiError(400, f"{name} must be an integer", field=name)
    value = int(raw)
    if not 1 <= value <= maximum:
        raise ApiError(400, f"{name} must be between 1 and {maximum}", field=name)
    return value


def _choice(value: Any, name: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ApiError(400, f"{name} must be one of {', '.join(allowed)}", field=name)
    return value


def _row(row: WebhookInbox) -> dict[str, Any]:
    return {
        "id": row.id, "source": row.source, "status": row.status, "event_type": row.event_type,
        "object_key": row.object_key, "attempts": row.attempts, "last_error": row.last_error,
        "received_at": _iso(row.received_at),
    }


MAX_BEFORE = 2**62  # any row id is smaller; the bound only keeps the number within the database's integers
_LIMIT_PARAM = QueryParam("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                                    "default": DEFAULT_LIMIT})


@bp.get("/operator/inbox")
@documented(Doc(
    "List inbox rows, newest first (without bodies)", "operator",
    query=(QueryParam("status", {"type": "string", "enum": list(InboxStatus.ALL)}),
           QueryParam("source", {"type": "string", "enum": list(SOURCES)}),
           _LIMIT_PARAM,
           QueryParam("before", {"type": "integer", "minimum": 1, "maximum": MAX_BEFORE},
                      "only rows with a smaller id (paging)")),
    responses={200: ("rows", {"type": "object", "properties": {
        "items": {"type": "array", "items": ref("InboxRow")}, "count": {"type": "integer"}}}),
        400: ("bad parameter", ref("Error")), 503: DB_UNAVAILABLE},
))
@require_scope("operator")
def list_inbox() -> Response:
    conditions = []
    if "status" in request.args:
        conditions.append(WebhookInbox.status == _choice(request.args["status"], "status", InboxStatus.ALL))
    if "source" in request.args:
        conditions.append(WebhookInbox.source == _choice(request.args["source"], "source", SOURCES))
    if "before" in request.args:
        conditions.append(WebhookInbox.id < _int_arg("before", 0, MAX_BEFORE))
    limit = _int_arg("limit", DEFAULT_LIMIT, MAX_LIMIT)
    with gateway().db.session() as session:
        rows = session.scalars(select(WebhookInbox).where(*conditions).order_by(WebhookInbox.id.desc()).limit(limit))
        items = [_row(row) for row in rows]
    return jsonify(items=items, count=len(items))


@bp.get(f"/operator/inbox/<int(min=1, max={MAX_ROW_ID}):inbox_id>")
@documented(Doc("One inbox row with its body and (redacted) headers", "operator",
                responses={200: ("the row", ref("InboxRowDetail")),
                           404: ("no such row (or not a row id)", ref("Error")), 503: DB_UNAVAILABLE}))
@require_scope("operator")
def get_inbox_row(inbox_id: int) -> Response:
    with gateway().db.session() as session:
        row = session.get(WebhookInbox, inbox_id)
        if row is None:
            raise ApiError(404, f"no inbox row {inbox_id}")
        detail = _row(row)
        detail.update(
            remote_addr=row.remote_addr,
            # Redacted when stored; redacting again guards rows written by older code.
            headers=inbox.redact_headers(row.headers or {}, extra_secret=[gateway().settings.gateway.api_key_header]),
            body=row.body, body_sha256=row.body_sha256, processed_at=_iso(row.processed_at),
            updated_at=_iso(row.updated_at),
        )
    return jsonify(detail)


def _parse_time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise ApiError(400, f"{name} must be an ISO 8601 date-time string", field=name)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(400, f"{name} must be an ISO 8601 date-time, got {value!r}", field=name) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)  # stored times are naive UTC
    return parsed


def _replay_selection(body: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(body) - set(REPLAY_FIELDS))
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(unknown)}", field=unknown[0])
    if not any(body.get(name) not in (None, "", []) for name in ("ids", "status", "since", "until")):
        raise ApiError(400, "say which rows to replay: ids, status, or since/until", field="ids")
    selection: dict[str, Any] = {"limit": DEFAULT_REPLAY_LIMIT}
    if "ids" in body:
        ids = body["ids"]
        if (not isinstance(ids, list) or not ids or len(ids) > MAX_REPLAY_LIMIT
                or not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i <= MAX_ROW_ID for i in ids)):
            raise ApiError(400, f"ids must be a list of 1 to {MAX_REPLAY_LIMIT} row ids (integers from 1 to "
                                f"{MAX_ROW_ID})", field="ids")
        selection["ids"] = ids
        selection["limit"] = len(ids)
    if "status" in body:
        selection["status"] = _choice(body["status"], "status", InboxStatus.ALL)
    for name in ("since", "until"):
        if name in body:
            selection[name] = _parse_time(body[name], name)
    if "since" in selection and "until" in selection and selection["since"] >= selection["until"]:
        raise ApiError(400, "since must be before until", field="since")
    if "source" in body:
        selection["source"] = _choice(body["source"], "source", SOURCES)
    if "limit" in body:
        limit = body["limit"]
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_REPLAY_LIMIT:
            raise ApiError(400, f"limit must be an integer from 1 to {MAX_REPLAY_LIMIT}", field="limit")
        selection["limit"] = limit
    return selection


@bp.post("/operator/inbox/replay")
@documented(Doc(
    "Replay inbox rows: reset them to received and queue them again", "operator",
    request_schema=ref("ReplayRequest"),
    responses={200: ("what was replayed", ref("ReplayResult")), 400: ("bad selection", ref("Error")),
               415: ("body is not JSON", ref("Error")), 503: DB_UNAVAILABLE},
))
@require_scope("operator")
def replay_inbox() -> Response:
    gw = gateway()
    selection = _replay_selection(json_object_body(gw.settings.gateway.max_body_bytes))
    result = delivery.replay(gw.db, gw.publisher, delivery.select_for_replay(gw.db, **selection))
    # Who replayed what, as the console records it (the key's fingerprint, never the key).
    actor = f"operator key sha256:{fingerprint(presented_key() or '')}"
    with gw.db.session() as session:
        session.add(ReplayAudit(actor=actor, selection={k: str(v) if isinstance(v, datetime) else v
                                                        for k, v in selection.items()},
                                replayed=len(result.replayed), inbox_ids=result.replayed))
    log.info("replayed %s inbox rows (%s skipped, %s not published) for %s", len(result.replayed),
             len(result.skipped), len(result.unpublished), actor)
    return jsonify(replayed=len(result.replayed), ids=result.replayed, skipped=result.skipped,
                   unpublished=result.unpublished)


@bp.get("/operator/inbox-stats")
@documented(Doc("Inbox rows per status", "operator", responses={200: ("counts", {"type": "object", "properties": {
    "counts": {"type": "object", "additionalProperties": {"type": "integer"}}, "total": {"type": "integer"}}}),
    503: DB_UNAVAILABLE}))
@require_scope("operator")
def inbox_stats() -> Response:
    counts = {status: 0 for status in InboxStatus.ALL}
    counts.update(inbox.counts_by_status(gateway().db))
    return jsonify(counts=counts, total=sum(counts.values()))


@bp.get("/operator/dead-letters")
@documented(Doc("Tasks that failed for good, newest first", "operator", query=(_LIMIT_PARAM,),
                responses={200: ("dead letters", {"type": "object", "properties": {
                    "items": {"type": "array", "items": ref("DeadLetter")}, "count": {"type": "integer"}}}),
                    400: ("bad parameter", ref("Error")), 503: DB_UNAVAILABLE}))
@require_scope("operator")
def dead_letters() -> Response:
    limit = _int_arg("limit", DEFAULT_LIMIT, MAX_LIMIT)
    with gateway().db.session() as session:
        rows = session.scalars(select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit))
        items = [{
            "id": row.id, "task_name": row.task_name, "task_id": row.task_id, "queue": row.queue,
            "args": row.args, "kwargs": row.kwargs, "exception": row.exception, "inbox_id": row.inbox_id,
            "monitor_log_id": row.monitor_log_id, "created_at": _iso(row.created_at),
            "replayed_at": _iso(row.replayed_at),
        } for row in rows]
    return jsonify(items=items, count=len(items))
