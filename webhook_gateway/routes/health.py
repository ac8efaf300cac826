"""Liveness, readiness and the OpenAPI document (no key needed: they reveal no data); metrics (operator key)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from billecta_sync import inbox, metrics, monitor
from billecta_sync.db import InboxStatus, utcnow
from taskqueue import is_amqp
from webhook_gateway.auth import require_scope
from webhook_gateway.context import gateway
from webhook_gateway.openapi import Doc, build_openapi, documented

log = logging.getLogger("webhook_gateway")
bp = Blueprint("health", __name__)

_STATUS = {"type": "object", "properties": {"status": {"type": "string"}}}
_READY = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["ready", "not_ready"]},
        "checks": {"type": "object", "additionalProperties": {"type": "string", "enum": ["ok", "failed"]}},
    },
}


@bp.get("/healthz")
@documented(Doc("Liveness: the process answers", "health", responses={200: ("alive", _STATUS)}))
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
@documented(Doc("Readiness: the database, Redis and (on RabbitMQ) the broker answer", "health",
                responses={200: ("ready", _READY), 503: ("a dependency is down; checks names it", _READY)}))
def readyz() -> tuple[Response, int]:
    gw = gateway()
    checks: dict[str, str] = {}
    try:
        gw.db.ping()
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not ready"; the probe only needs which one
        log.warning("readiness: database check failed: %s", type(exc).__name__)
        checks["database"] = "failed"
    try:
        gw.redis.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        log.warning("readiness: redis check failed: %s", type(exc).__name__)
        checks["redis"] = "failed"
    if is_amqp(gw.settings.broker):
        # On RabbitMQ the broker is not the Redis above: a webhook is still stored without it (the sweeper
        # publishes it later), but a gateway that cannot reach it should not take new traffic first.
        checks["broker"] = _amqp_check(gw.settings.broker)
    failed = sorted(name for name, state in checks.items() if state != "ok")
    if failed:
        return jsonify(status="not_ready", checks=checks, error="not_ready",
                       message=f"not ready: {', '.join(failed)} failed"), 503
    return jsonify(status="ready", checks=checks), 200


def _amqp_check(url: str) -> str:
    from kombu import Connection

    try:
        with Connection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
        return "ok"
    except Exception as exc:
        log.warning("readiness: broker check failed: %s", type(exc).__name__)
        return "failed"


@bp.get("/openapi.json")
@documented(Doc("This OpenAPI document", "health", responses={200: ("OpenAPI 3.1", {"type": "object"})}))
def openapi_json() -> Response:
    return jsonify(build_openapi(current_app, gateway().settings))



def _scrape_time_values() -> dict[str, Any]:
    gw = gateway()
    backlog = {status: 0 for status in InboxStatus.ALL}
    backlog.update(inbox.counts_by_status(gw.db))
    oldest = inbox.oldest_open(gw.db)
    age = (utcnow() - oldest).total_seconds() if oldest else 0.0
    return {"backlog": backlog, "oldest_open_age_s": max(0.0, age), "running_batches": monitor.running_batches(gw.db)}


@bp.get("/metrics")
@documented(Doc("Prometheus metrics (text format; operator key)", "health", internal=True))
@require_scope("operator")
def metrics_endpoint() -> Response:
    # Operator scope: the counts say how busy and how broken the service is, which is not for everyone;
    # Prometheus sends the key as a bearer token (authorization: credentials_file).
    body, content_type = metrics.render([metrics.ScrapeTimeGauges(_scrape_time_values)])
    return Response(body, mimetype=content_type.split(";")[0], content_type=content_type)
