"""Liveness, readiness and the OpenAPI document (no key needed: they reveal no data)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify

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
@documented(Doc("Readiness: the database and Redis answer", "health",
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
    failed = sorted(name for name, state in checks.items() if state != "ok")
    if failed:
        return jsonify(status="not_ready", checks=checks, error="not_ready",
                       message=f"not ready: {', '.join(failed)} failed"), 503
    return jsonify(status="ready", checks=checks), 200


@bp.get("/openapi.json")
@documented(Doc("This OpenAPI document", "health", responses={200: ("OpenAPI 3.1", {"type": "object"})}))
def openapi_json() -> Response:
    return jsonify(build_openapi(current_app, gateway().settings))

