"""Typed errors for Lime REST calls.

Lime does not document its error body, so the message is taken from a JSON ``message``/``error``/
``detail`` field when there is one and otherwise from the raw text.
"""

from __future__ import annotations

import json
from typing import Any

import requests

from billecta_sync.httpretry import parse_retry_after

__all__ = [
    "LimeApiError",
    "LimeBadRequest",
    "LimeConnectionError",
    "LimeNotFound",
    "LimeRateLimited",
    "LimeServerError",
    "error_from_response",
    "retryable",
]

_MAX_BODY_CHARS = 2000


class LimeApiError(Exception):
    """A Lime call failed; ``status_code`` is None when no HTTP answer arrived."""

    def __init__(self, message: str, status_code: int | None = None, body: str | None = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.body = body
        self.retry_after_s = retry_after_s

    def __str__(self) -> str:
        return self.message


class LimeNotFound(LimeApiError):
    """HTTP 404."""


class LimeBadRequest(LimeApiError):
    """HTTP 400 (for example a wrong property name or a null in a text property)."""


class LimeRateLimited(LimeApiError):
    """HTTP 429; ``retry_after_s`` is the server's hint when it gave one."""


class LimeServerError(LimeApiError):
    """HTTP 5xx."""


class LimeConnectionError(LimeApiError):
    """No usable answer: connection refused or reset, DNS failure, timeout."""


def retryable(exc: BaseException) -> bool:
    """True for failures another attempt may cure: network errors, 5xx and 429."""
    return isinstance(exc, LimeConnectionError | LimeServerError | LimeRateLimited)


def _message(data: Any) -> str | None:
    if isinstance(data, dict):
        lowered = {str(k).lower(): v for k, v in data.items()}
        for key in ("message", "error", "detail", "description"):
            value = lowered.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict | list) and value:
                return json.dumps(value, ensure_ascii=False)
    return None


def error_from_response(resp: requests.Response, what: str = "") -> LimeApiError:
    text = resp.text[:_MAX_BODY_CHARS] if resp.content else ""
    detail: str | None = None
    if text:
        try:
            detail = _message(json.loads(resp.text))
        except ValueError:
            pass
    detail = detail or text.strip() or f"HTTP {resp.status_code} {resp.reason or ''}".strip()
    message = f"{what}: {detail}" if what else detail
    status = resp.status_code
    cls: type[LimeApiError]
    if status == 400:
        cls = LimeBadRequest
    elif status == 404:
        cls = LimeNotFound
    elif status == 429:
        cls = LimeRateLimited
    elif status >= 500:
        cls = LimeServerError
    else:
        cls = LimeApiError
    return cls(message, status, text, retry_after_s=parse_retry_after(resp.headers.get("Retry-After")))
