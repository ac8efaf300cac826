"""One log line per request, one correlation id per request, and the gateway's request counters.

The correlation id is the caller's ``X-Request-ID`` when it is short and plain (≤ 64 characters of
``[A-Za-z0-9._-]``, so it cannot inject text into log lines), else one drawn here. It is answered in the
response header, bound into the log context (every line of this request carries it), stored on the inbox
row and sent along in the headers of every task this request publishes, so the worker's lines and its
Billecta and Lime request lines carry it too.

Only method, path, status, duration and the id are logged: bodies and headers may hold keys or personal
data. A webhook that was stored (answered 2xx) gets no line unless ``GATEWAY_LOG_STORED_WEBHOOKS`` is set: its
inbox row records it, and the worker's lines for it carry its id.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Request, Response

from billecta_sync import logs, metrics
from webhook_gateway.context import current_request, gateway, request_globals

log = logging.getLogger("webhook_gateway.access")

REQUEST_ID_HEADER = "X-Request-ID"
#: blueprint -> inbound source, for the webhook counter
WEBHOOK_BLUEPRINTS = {"billecta_webhooks": "billecta", "lime_webhooks": "lime"}
_AUTH_REASONS = {"missing_api_key", "invalid_api_key", "wrong_scope"}


def request_id(here: Any = None) -> str:
    """This request's id; ``here``: its ``g``, when the caller has it already."""
    return str(getattr(request_globals() if here is None else here, "request_id", ""))


correlation_id = request_id


def _start() -> None:
    logs.clear()  # a thread serves many requests: nothing of the last one may leak into this one
    here = request_globals()
    here.request_id = (logs.valid_correlation_id(current_request().headers.get(REQUEST_ID_HEADER))
                       or logs.new_correlation_id())
    here.request_started = time.perf_counter()
    logs.bind(correlation_id=here.request_id)


def webhook_outcome(status: str) -> None:
    """Name a stored webhook's outcome (queued, received, ignored) for its counter, so the answer need not
    be parsed again to read it."""
    request_globals().webhook_outcome = status


def _json_field(response: Response, name: str) -> str:
    if not response.is_json:
        return ""
    body = response.get_json(silent=True)
    value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, str) else ""


def _count(response: Response, req: Request, here: Any) -> None:
    status = response.status_code
    if status in (401, 403):
        reason = _json_field(response, "reason")
        if reason in _AUTH_REASONS:
            view = req.url_rule and req.url_rule.endpoint
            scopes = getattr(here, "_scopes", None) or _scopes_of(view)
            metrics.AUTH_FAILURES.labels(scope=scopes, reason=reason).inc()
    blueprint = req.blueprint or ""
    if blueprint in WEBHOOK_BLUEPRINTS:
        # queued | received | ignored on success (as the route named it), else the HTTP status.
        outcome = ""
        if 200 <= status < 300:
            outcome = getattr(here, "webhook_outcome", "") or _json_field(response, "status")
        metrics.webhook_received(WEBHOOK_BLUEPRINTS[blueprint], outcome or str(status))
    elif blueprint == "commands" and req.url_rule is not None:
        # The endpoint names the command (one view per route of commands.py); ids never become labels.
        metrics.COMMANDS.labels(job=req.url_rule.endpoint.partition(".")[2], status=str(status)).inc()


def _scopes_of(endpoint: str | None) -> str:
    from flask import current_app

    view = current_app.view_functions.get(endpoint or "")
    return "|".join(getattr(view, "required_scopes", ())) or "none"


def _finish(response: Response) -> Response:
    req, here = current_request(), request_globals()
    started = getattr(here, "request_started", None)
    elapsed_ms = (time.perf_counter() - started) * 1000 if started is not None else 0.0
    rid = request_id(here)
    response.headers[REQUEST_ID_HEADER] = rid
    try:
        _count(response, req, here)
    except Exception:  # a counter must never break an answer
        log.exception("could not count the request")
    if getattr(here, "webhook_outcome", "") and not gateway().settings.gateway.log_stored_webhooks:
        # A stored webhook's row is its record (received_at, status, correlation id): at month end a line for
        # each of thousands per minute cost the gateway a tenth of its time per webhook.
        return response
    log.info(
        "%s %s %s %.1fms rid=%s", req.method, req.path, response.status_code, elapsed_ms, rid,
        extra={"method": req.method, "path": req.path, "status": response.status_code,
               "duration_ms": round(elapsed_ms, 1)},
    )
    return response


def _teardown(_exc: BaseException | None) -> None:
    logs.clear()


def install(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(_teardown)
