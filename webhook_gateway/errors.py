"""Every error leaves the gateway as JSON: ``{"error": <short code>, "message": <human reason>}``.

Callers (Billecta, Lime commands, operators' scripts) read the code; an HTML error page would only
confuse them.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

log = logging.getLogger("webhook_gateway")

# Short codes for the statuses the gateway answers with; anything else falls back to "http_<status>".
ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    431: "request_header_fields_too_large",
    500: "internal_error",
    502: "bad_gateway",
    503: "unavailable",
}


class ApiError(Exception):
    """Raised by routes to answer with a JSON error; ``extra`` adds fields next to error/message."""

    def __init__(self, status: int, message: str, *, error: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error = error or ERROR_CODES.get(status, f"http_{status}")
        self.extra = extra


def error_response(status: int, message: str, *, error: str | None = None, **extra: Any) -> Response:
    body = {"error": error or ERROR_CODES.get(status, f"http_{status}"), "message": message, **extra}
    response = jsonify(body)
    response.status_code = status
    return response


def _handle_api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.message, error=exc.error, **exc.extra)


def _handle_http(exc: HTTPException) -> Response:
    status = exc.code or 500
    message = exc.description or exc.name
    # A path that matches no route (an id out of range, say) answers like the seed's commands do for a
    # missing object, so Lime's command components show the reason.
    extra = {"error_message": message} if status == 404 else {}
    response = error_response(status, message, **extra)
    # Keep protocol headers Werkzeug adds (Allow on 405, WWW-Authenticate on 401).
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _handle_database(exc: SQLAlchemyError) -> Response:
    # The message of a database error can carry SQL and parameters; log the type only.
    log.warning("database unavailable: %s", type(exc).__name__)
    return error_response(503, "the database is unavailable; retry later", error="database_unavailable")


def _handle_unexpected(exc: Exception) -> Response:
    log.exception("unhandled error")
    return error_response(500, "internal error")


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(HTTPException, _handle_http)
    app.register_error_handler(SQLAlchemyError, _handle_database)
    app.register_error_handler(Exception, _handle_unexpected)
