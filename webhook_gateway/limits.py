"""The gateway's bounds on what one request may ask for, in one place (see docs/operations.md, "Limits").

The request body size is a setting (``GATEWAY_MAX_BODY_BYTES``); the others are constants with documented
defaults until the settings module grows a field for each (names in the comments). Query-filter bounds
live with the filter validator: ``billecta_sync.lime.query.FilterLimits``.
"""

from __future__ import annotations

from flask import Flask

from webhook_gateway.body import header_count
from webhook_gateway.context import current_request
from webhook_gateway.errors import ApiError

#: Largest row id a path or body may name. The tables' ids are ``Integer`` columns, 32-bit on PostgreSQL
#: (SQLite would take 64 bits, but no row gets there); a larger id names nothing, so it is a 404/400.
MAX_ROW_ID = 2**31 - 1

#: Most request headers one request may carry before it is refused with 431 (setting to be:
#: GATEWAY_MAX_REQUEST_HEADERS). Below gunicorn's own limit_request_fields (100, answered with a bare
#: 400), so the caller gets the gateway's JSON answer.
MAX_REQUEST_HEADERS = 64

#: Most inbox rows one operator replay may name in ``ids`` or select with ``limit``.
MAX_REPLAY_IDS = 10_000


def _check_header_count() -> None:
    environ = current_request().environ
    if len(environ) <= MAX_REQUEST_HEADERS:  # the usual request: fewer entries in all than headers allowed
        return
    count = header_count(environ)
    if count > MAX_REQUEST_HEADERS:
        raise ApiError(431, f"the request has {count} headers; at most {MAX_REQUEST_HEADERS} are accepted",
                       error="too_many_headers")


def install(app: Flask) -> None:
    """Refuse over-large requests before any view runs (after the request id is set, so 431s carry it)."""
    app.before_request(_check_header_count)
