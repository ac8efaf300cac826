"""API-key checks per scope (webhook, commands, operator).

A key is sent in the configured header (default ``X-API-Key``) or as ``Authorization: Bearer <key>``.
Keys are compared in constant time against every key of every scope, so neither the answer time nor
an early exit tells a caller how close a guess was.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from webhook_gateway.context import Gateway, current_request, gateway
from webhook_gateway.errors import ApiError

F = TypeVar("F", bound=Callable[..., Any])


def presented_key(gw: Gateway | None = None) -> str | None:
    """The key the caller sent, or ``None`` when it sent none."""
    headers = current_request().headers
    value = headers.get((gw or gateway()).settings.gateway.api_key_header, "").strip()
    if value:
        return value
    auth = headers.get("Authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def _matches(key: bytes, secrets: tuple[bytes, ...]) -> bool:
    found = False
    for secret in secrets:
        # No early exit: every key is compared so the time does not depend on which one matched.
        found |= hmac.compare_digest(key, secret)
    return found


def check_scopes(scopes: tuple[str, ...]) -> None:
    """Raise ``ApiError`` (401 missing/invalid key, 403 key of another scope) unless a scope matches."""
    gw = gateway()
    key = presented_key(gw)
    if key is None:
        header = gw.settings.gateway.api_key_header
        raise ApiError(401, f"send an API key of scope {' or '.join(scopes)} in {header} or as a Bearer token",
                       error="unauthorized", reason="missing_api_key")
    raw = key.encode("utf-8")
    results = {scope: _matches(raw, secrets) for scope, secrets in gw.api_keys.items()}
    if any(results[scope] for scope in scopes):
        return
    wanted = " or ".join(scopes)
    if any(results.values()):
        raise ApiError(403, f"this API key is not allowed here; the endpoint needs scope {wanted}",
                       error="forbidden", reason="wrong_scope")
    raise ApiError(401, "the API key is not valid", error="unauthorized", reason="invalid_api_key")


def require_scope(*scopes: str) -> Callable[[F], F]:
    """Decorator: run the view only for a caller holding a key of one of ``scopes``."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            check_scopes(scopes)
            return view(*args, **kwargs)

        wrapper.required_scopes = scopes  # type: ignore[attr-defined]  # read by the OpenAPI builder
        return cast(F, wrapper)

    return decorator
