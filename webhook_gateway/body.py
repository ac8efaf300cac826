"""Reading request bodies within the size limit, and as JSON objects."""

from __future__ import annotations

import json
from typing import Any

from flask import request

from webhook_gateway.errors import ApiError


def read_body(limit: int) -> bytes:
    """The raw body; 413 when it is larger than ``limit`` bytes."""
    length = request.content_length
    if length is not None and length > limit:
        raise ApiError(413, f"the body is larger than {limit} bytes")
    # Content-Length may be absent (chunked) or understated, so the read itself is bounded too:
    # one byte past the limit is enough to know it is too large.
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = request.stream.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if length is not None and size == length:
            break  # the stream stops at Content-Length: one more read would only return b""
    if size > limit:
        raise ApiError(413, f"the body is larger than {limit} bytes")
    return b"".join(chunks)


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
