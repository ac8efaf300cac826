"""Typed errors for Billecta API calls.

Every failure surfaces as a ``BillectaApiRequestException`` subclass whose ``str()`` is Billecta's own
``Message`` (or the raw body when there is none), because that text is what operators see in the
``billecta_error_message`` fields in Lime.
"""

from __future__ import annotations

import json
from typing import Any

import requests

from billecta_sync.httpretry import parse_retry_after
from billecta_sync.settings import InvalidBillectaApiConfig

__all__ = [
    "BillectaApiBadRequestException",
    "BillectaApiConnectionError",
    "BillectaApiNotFoundException",
    "BillectaApiRateLimitedException",
    "BillectaApiRequestException",
    "BillectaApiServerError",
    "InvalidBillectaApiConfig",
    "error_from_response",
    "retryable",
]

_MAX_BODY_CHARS = 2000  # enough for any real error message; keeps HTML error pages out of logs


class BillectaApiRequestException(Exception):
    """A Billecta call failed. ``status_code`` is None when no HTTP answer arrived."""

    def __init__(
        self,
        message: str,
        status_code: int | None = None,
        external_error_code: str | None = None,
        route: str | None = None,
        body: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.external_error_code = external_error_code
        self.route = route
        self.body = body
        # Set on any answer that carried Retry-After (429, sometimes 503); the retry policy honours it.
        self.retry_after_s = retry_after_s

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(message={self.message!r}, status_code={self.status_code!r}, "
                f"external_error_code={self.external_error_code!r}, route={self.route!r})")


class BillectaApiBadRequestException(BillectaApiRequestException):
    """HTTP 400: validation or business-rule error; retrying cannot help."""


class BillectaApiNotFoundException(BillectaApiRequestException):
    """HTTP 404: the resource does not exist (or is not visible to these credentials)."""


class BillectaApiRateLimitedException(BillectaApiRequestException):
    """HTTP 429: too many requests; ``retry_after_s`` is the server's hint when it gave one."""


class BillectaApiServerError(BillectaApiRequestException):
    """HTTP 5xx: Billecta failed; usually transient."""


class BillectaApiConnectionError(BillectaApiRequestException):
    """No usable answer: connection refused or reset, DNS failure, timeout."""


def retryable(exc: BaseException) -> bool:
    """True for failures another attempt may cure: network errors, 5xx and 429."""
    return isinstance(exc, BillectaApiConnectionError | BillectaApiServerError | BillectaApiRateLimitedException)


def _message_fields(data: Any) -> tuple[str | None, str | None]:
    if not isinstance(data, dict):
        return None, None
    # Billecta answers in PascalCase, but match loosely: proxies and the sandbox may not.
    lowered = {str(k).lower(): v for k, v in data.items()}
    message = lowered.get("message")
    code = lowered.get("externalerrorcode")
    return (str(message) if message not in (None, "") else None,
            str(code) if code not in (None, "") else None)


def error_from_response(resp: requests.Response, route: str | None = None) -> BillectaApiRequestException:
    """Turn a non-2xx answer into the matching typed exception."""
    text = resp.text[:_MAX_BODY_CHARS] if resp.content else ""
    message: str | None = None
    code: str | None = None
    if text:
        try:
            message, code = _message_fields(json.loads(resp.text))
        except ValueError:
            pass
    if message is None:
        message = text.strip() or f"HTTP {resp.status_code} {resp.reason or ''}".strip()
    status = resp.status_code
    retry_after = parse_retry_after(resp.headers.get("Retry-After"))
    cls: type[BillectaApiRequestException]
    if status == 400:
        cls = BillectaApiBadRequestException
    elif status == 404:
        cls = BillectaApiNotFoundException
    elif status == 429:
        cls = BillectaApiRateLimitedException
    elif status >= 500:
        cls = BillectaApiServerError
    else:
        cls = BillectaApiRequestException
    return cls(message, status_code=status, external_error_code=code, route=route, body=text,
               retry_after_s=retry_after)
