"""The Billecta webhook receiver: authenticate, validate, store, enqueue, answer.

The row is committed before the answer, so a 200 means the delivery is durable; when the broker is
down the answer is still 200 ("received") and the inbox sweeper publishes the row later. Only a
failed database write answers 503, which makes Billecta deliver again.
"""

from __future__ import annotations

import ipaddress
import logging

from flask import Blueprint, Response
from sqlalchemy.exc import SQLAlchemyError

from billecta_sync.inbound import delivery
from billecta_sync.inbound.billecta_events import InvalidWebhook, missing_ids, parse_billecta_event
from webhook_gateway import requestlog
from webhook_gateway.auth import require_scope
from webhook_gateway.body import parse_json_object, read_body, stored_headers
from webhook_gateway.context import current_request, gateway
from webhook_gateway.errors import ApiError
from webhook_gateway.openapi import Doc, documented, ref
from webhook_gateway.routes import stored_webhook_answer

log = logging.getLogger("webhook_gateway.webhooks")
bp = Blueprint("billecta_webhooks", __name__)

SOURCE = "billecta"

_DOC = Doc(
    "Receive a Billecta webhook",
    "webhooks",
    description="Stores the delivery and queues it for processing. Unsupported event types are stored as "
                "ignored and acknowledged. 503 means it was not stored: deliver again.",
    request_schema={"type": "object", "description": "the Billecta event as sent (WebhookTriggerType and ids)"},
    responses={
        200: ("stored: queued, received (queued later) or ignored (unsupported event)", ref("WebhookAccepted")),
        400: ("cut short of its Content-Length, not JSON, not an object, no event type, or a supported event "
              "without its ids", ref("Error")),
        403: ("a key of another scope, or a source address outside GATEWAY_BILLECTA_ALLOWED_NETWORKS",
              ref("Error")),
        413: ("body too large", ref("Error")),
        503: ("the delivery could not be stored; deliver again", ref("Error")),
    },
)


def _allowed_source(networks: tuple[str, ...], address: str | None) -> bool:
    if not networks:
        return True
    try:
        peer = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(peer in ipaddress.ip_network(network, strict=False) for network in networks)


@bp.post("/billecta-webhook-receiver")
@documented(_DOC)
@require_scope("webhook")
def receive_billecta_webhook() -> tuple[Response, int]:
    gw = gateway()
    remote_addr = current_request().remote_addr
    if not _allowed_source(gw.settings.gateway.billecta_allowed_networks, remote_addr):
        # The address, never the key: refused before the body is read, nothing stored.
        log.warning("refused a Billecta webhook from %s: not in GATEWAY_BILLECTA_ALLOWED_NETWORKS", remote_addr)
        raise ApiError(403, "this source address may not deliver Billecta webhooks", error="forbidden",
                       reason="source_not_allowed")
    raw = read_body(gw.settings.gateway.max_body_bytes)
    payload = parse_json_object(raw)
    try:
        event = parse_billecta_event(payload)
    except InvalidWebhook as exc:
        raise ApiError(400, str(exc), error="invalid_webhook") from None
    if event.supported:
        missing = missing_ids(event)
        if missing:
            raise ApiError(400, f"event {event.type} needs one of these ids: {', '.join(missing)}",
                           error="missing_ids", missing=list(missing))

    headers = stored_headers(gw.secret_headers)
    try:
        accepted = delivery.accept(gw.db, gw.publisher, SOURCE, headers, raw, remote_addr or "",
                                   event_type=event.type, object_key=event.object_key,
                                   ignore_reason="" if event.supported else f"unsupported event type {event.type}",
                                   correlation_id=requestlog.correlation_id())
    except SQLAlchemyError as exc:
        log.warning("could not store a %s webhook (%s); answering 503 so Billecta retries",
                    event.type, type(exc).__name__)
        raise ApiError(503, "the delivery could not be stored; retry later", error="unavailable") from None
    if not event.supported:
        log.info("ignored unsupported Billecta event %s (inbox %s)", event.type, accepted.inbox_id)
    requestlog.webhook_outcome(accepted.status)
    return stored_webhook_answer(accepted.status, accepted.inbox_id), 200
