"""The console's login, session and CSRF checks.

A login exchanges an operator key for a signed session cookie that holds only the key's fingerprint (never
the key): the fingerprint is checked against the configured operator keys on every request, so removing a
key from ``GATEWAY_API_KEYS_OPERATOR`` also ends the sessions opened with it. Every POST carries a token
stored in the session; Flask-WTF would do the same with more machinery than these few lines.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import Response, redirect, request, session, url_for

from webhook_gateway.context import gateway

F = TypeVar("F", bound=Callable[..., Any])
CSRF_FIELD = "csrf_token"
_OPERATOR = "operator"


def fingerprint(key: str) -> str:
    """A short, stable name for a key that tells nothing about the key itself (audit actor, session)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def check_operator_key(presented: str) -> str | None:
    """The fingerprint of ``presented`` when it is an operator key, else ``None`` (constant-time compare)."""
    raw = presented.encode("utf-8")
    found = False
    for secret in gateway().settings.api_keys("operator"):
        found |= hmac.compare_digest(raw, secret.get().encode("utf-8"))
    return fingerprint(presented) if found else None


def current_operator() -> str | None:
    """The signed-in operator's key fingerprint, while that key is still configured."""
    held = session.get(_OPERATOR)
    if not isinstance(held, str):
        return None
    valid = {fingerprint(secret.get()) for secret in gateway().settings.api_keys("operator")}
    return held if held in valid else None


def actor() -> str:
    return f"operator key sha256:{current_operator() or '?'}"


def sign_in(key_fingerprint: str) -> None:
    # A fresh session (and token) at login, so a token planted before the login is useless after it.
    session.clear()
    session.permanent = True
    session[_OPERATOR] = key_fingerprint
    session[CSRF_FIELD] = secrets.token_urlsafe(32)


def sign_out() -> None:
    session.clear()


def csrf_token() -> str:
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def csrf_ok() -> bool:
    expected = session.get(CSRF_FIELD)
    sent = request.form.get(CSRF_FIELD, "")
    return isinstance(expected, str) and bool(sent) and hmac.compare_digest(expected, sent)


def safe_next(target: str | None) -> str | None:
    """Only a path on this console: an absolute URL in ``next`` would make the login an open redirect."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith(url_for("console.index")):
        return None
    return target


def login_required(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_operator() is None:
            if request.method == "GET":
                return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
            return Response("sign in first\n", status=401, mimetype="text/plain")
        return view(*args, **kwargs)

    return cast(F, wrapper)
