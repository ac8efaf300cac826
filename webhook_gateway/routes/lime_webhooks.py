"""The Lime webhook receiver: verify the signature, store, enqueue, answer.

Lime sends no API key with its webhooks, only ``X-Lime-Signature: sha256=<hex HMAC-SHA256>`` of the raw
body with the subscription's secret (``LIME_WEBHOOK_SECRET``). The signature is checked on the raw bytes,
in constant time, before the body is parsed; a missing or wrong one is a 401 and nothing is stored. As
with Billecta, the row is committed before the 2xx, and the broker being down only delays processing.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request
from sqlalchemy.exc import SQLAlchemyError

from billecta_sync.inbound import delivery
from billecta_sync.inbound.lime_events import (
    SIGNATURE_HEADER,
    InvalidLimeWebhook,
    is_relevant,
    parse_lime_event,
    signature_ok,
)
from billecta_sync.mappings import FieldMappings
from webhook_gateway import requestlog
from webhook_gateway.body import parse_json_object, read_body, stored_headers
from webhook_gateway.context import gateway
from webhook_gateway.errors import ApiError
from webhook_gateway.openapi import Doc, documented, ref
from webhook_gateway.routes import stored_webhook_answer

log = logging.getLogger("webhook_gateway.lime_webhooks")
bp = Blueprint("lime_webhooks", __name__)

SOURCE = "lime"

_DOC = Doc(
    "Receive a Lime webhook",
    "webhooks",
    description="No API key: authenticated by X-Lime-Signature (sha256=<hex HMAC-SHA256 of the raw body with "
                "LIME_WEBHOOK_SECRET>). Stores the delivery and queues it; changes to synced properties of "
                "debtors, articles, orders, order rows, their creditor relations and persons reach Billecta.",
    request_schema={"type": "object", "required": ["event", "body"],
                    "description": "Lime's event: {event: '<limetype>.<action>', body: {id, limetype, values, "
                                   "original_values?}}"},
    responses={
        200: ("stored: queued, received (queued later) or ignored (not synced)", ref("WebhookAccepted")),
        400: ("cut short of its Content-Length, not JSON, not an object, or not a Lime event", ref("Error")),
        401: ("missing or wrong signature; nothing stored", ref("Error")),
        413: ("body too large", ref("Error")),
        503: ("the delivery could not be stored; deliver again", ref("Error")),
    },
)


@bp.post("/lime-webhook-receiver")
@documented(_DOC)
def receive_lime_webhook() -> tuple[Response, int]:
    gw = gateway()
    raw = read_body(gw.settings.gateway.max_body_bytes)
    secret = gw.settings.lime.webhook_secret.get() if gw.settings.lime.webhook_secret is not None else ""
    if not signature_ok(secret, raw, request.headers.get(SIGNATURE_HEADER)):
        if not secret:
            log.error("a Lime webhook arrived but LIME_WEBHOOK_SECRET is not set; refusing it")
        raise ApiError(401, f"missing or invalid {SIGNATURE_HEADER}", error="unauthorized")
    try:
        event = parse_lime_event(parse_json_object(raw))
    except InvalidLimeWebhook as exc:
        raise ApiError(400, str(exc), error="invalid_webhook") from None
    mappings: FieldMappings = gw.settings.mappings
    relevant = is_relevant(mappings, event)
    headers = stored_headers(gw.secret_headers)
    try:
        accepted = delivery.accept(gw.db, gw.publisher, SOURCE, headers, raw, request.remote_addr or "",
                                   event_type=event.event, object_key=event.object_key,
                                   ignore_reason="" if relevant else f"{event.event} is not synced to Billecta",
                                   correlation_id=requestlog.correlation_id())
    except SQLAlchemyError as exc:
        log.warning("could not store a Lime webhook (%s); answering 503 so Lime retries", type(exc).__name__)
        raise ApiError(503, "the delivery could not be stored; retry later", error="unavailable") from None
    requestlog.webhook_outcome(accepted.status)
    return stored_webhook_answer(accepted.status, accepted.inbox_id), 200
