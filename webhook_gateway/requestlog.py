"""One log line per request, tagged with a request id that is echoed back to the caller.

Only method, path, status, duration and the id are logged: bodies and headers may hold keys or
personal data.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

log = logging.getLogger("webhook_gateway.access")

REQUEST_ID_HEADER = "X-Request-Id"
# A caller's id is reused only if it is short and plain, so it cannot inject text into log lines.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id() -> str:
    return str(getattr(g, "request_id", ""))


def _start() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _finish(response: Response) -> Response:
    started = getattr(g, "request_started", None)
    elapsed_ms = (time.perf_counter() - started) * 1000 if started is not None else 0.0
    response.headers[REQUEST_ID_HEADER] = request_id()
    log.info(
        "%s %s %s %.1fms rid=%s", request.method, request.path, response.status_code, elapsed_ms, request_id(),
        extra={"request_id": request_id(), "method": request.method, "path": request.path,
               "status": response.status_code, "duration_ms": round(elapsed_ms, 1)},
    )
    return response


def install(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
