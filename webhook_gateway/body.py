"""Reading request bodies within the size limit, and as JSON objects."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import request
from werkzeug.sansio.utils import get_content_length

from billecta_sync import inbox
from webhook_gateway.context import current_request
from webhook_gateway.errors import ApiError


def read_body(limit: int) -> bytes:
    """The raw body; 413 when it is larger than ``limit`` bytes."""
    req = current_request()
    environ = req.environ
    length = get_content_length(http_content_length=environ.get("CONTENT_LENGTH"),
                                http_transfer_encoding=environ.get("HTTP_TRANSFER_ENCODING"))
    if length is not None and length > limit:
        raise ApiError(413, f"the body is larger than {limit} bytes")
    # With a Content-Length the body is read straight from the server's input, which ends there (PEP 3333):
    # werkzeug's stream wrapper cost more than the rest of reading a webhook. Without one (chunked) the read
    # is bounded instead: one byte past the limit is enough to know it is too large.
    stream = environ["wsgi.input"] if length is not None else req.stream
    want = length if length is not None else limit + 1
    chunks: list[bytes] = []
    size = 0
    while size < want:
        chunk = stream.read(want - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise ApiError(413, f"the body is larger than {limit} bytes")
    if length is not None and size < length:
        # the sender went away mid-body: a truncated delivery is never stored (it may even parse)
        raise ApiError(400, f"the body ended after {size} of its {length} bytes", error="incomplete_body")
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


_CGI_HEADERS = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH"})
_NOT_HEADERS = frozenset({"HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"})


def header_count(environ: Mapping[str, Any]) -> int:
    """What ``len(request.headers)`` is, counted on the WSGI environ without building a header object for
    each."""
    http = [key for key in environ if key.startswith("HTTP_")]
    return (len(http) - len(_NOT_HEADERS.intersection(http))
            + sum(1 for key in _CGI_HEADERS if environ.get(key)))


def stored_headers(secret: frozenset[str]) -> dict[str, str]:
    """The request's headers as the inbox keeps them: ``dict(request.headers)`` with the values of the
    ``secret`` names (lowered, ``inbox.secret_header_names``) redacted, made in one pass over the WSGI environ."""
    headers: dict[str, str] = {}
    for key, value in current_request().environ.items():
        if key.startswith("HTTP_"):
            if key in _NOT_HEADERS:
                continue
            name = key[5:].replace("_", "-").title()
        elif key in _CGI_HEADERS and value:
            name = key.replace("_", "-").title()
        else:
            continue
        headers[name] = inbox.REDACTED if name.lower() in secret else value
    return headers


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):  # bad JSON, bad UTF-8, absurd nesting
        raise ApiError(400, "the body is not valid JSON", error="invalid_json") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "the body must be a JSON object", error="invalid_body")
    return payload


def json_object_body(limit: int) -> dict[str, Any]:
    """The body of a command or operator call: JSON (by media type when one is given), an object."""
    mimetype = request.mimetype
    if mimetype and mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiError(415, f"send the body as application/json, not {mimetype}")
    return parse_json_object(read_body(limit))
