"""What production mode (``BILLECTA_SYNC_ENV=production``, the default) refuses at start-up.

Every check takes plain values and raises ``ValueError`` with the tail of a message ("must ...", or
": ..." for a list); ``billecta_sync.settings`` puts the name of the setting in front of it. No message
repeats a secret value.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from urllib.parse import urlsplit

PRODUCTION = "production"
DEVELOPMENT = "development"

MIN_PRODUCTION_KEY_BYTES = 32

# Flower's login under `make run` (user:password); public, so refused in production like every value below.
DEVELOPMENT_FLOWER_BASIC_AUTH = "dev:dev-flower-password"

# The development values committed in this repository (devstack/stack.py, docker-compose.yml, README,
# config/example.yaml): anyone can read them, so production refuses them wherever they appear.
DEVELOPMENT_SECRETS = frozenset({
    "dev-webhook-key",
    "dev-commands-key",
    "dev-operator-key",
    "dev-lime-key",
    "dev-lime-webhook-secret",
    "SecureToken ZGV2LWJpbGxlY3RhLXRva2Vu",  # base64("dev-billecta-token"), the Billecta sandbox's token
    "ZGV2LWJpbGxlY3RhLXRva2Vu",
    DEVELOPMENT_FLOWER_BASIC_AUTH.partition(":")[2],
})
# Database passwords of docker-compose.yml's PostgreSQL and config/example.yaml before production mode.
DEVELOPMENT_PASSWORDS = frozenset({"billecta", "secret"})
# Prefixes of the development values and of the placeholders in deploy.env.example.
DEVELOPMENT_PREFIXES = ("dev-", "replace-me")

_HOW = "set BILLECTA_SYNC_ENV=development for a local stack"
_NEW_KEY = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


def is_development_value(value: str) -> bool:
    """A value committed in this repository (or a placeholder of the example env file)."""
    candidates = [value]
    scheme, _, token = value.partition(" ")
    if scheme in {"Basic", "SecureToken"} and token.strip():
        candidates.append(token.strip())
        try:
            candidates.append(base64.b64decode(token.strip(), validate=True).decode("utf-8", "replace"))
        except (binascii.Error, ValueError):
            pass
    return any(c in DEVELOPMENT_SECRETS or c.strip().lower().startswith(DEVELOPMENT_PREFIXES) for c in candidates)


def refuse_development_value(value: str, what: str = "value") -> None:
    if is_development_value(value):
        raise ValueError(f"holds a development {what}, public in this repository; production needs a secret of "
                         f"its own ({_HOW})")


def require_https(url: str) -> None:
    if urlsplit(url).scheme != "https":
        raise ValueError(f"must be an https:// URL in production, got {url!r} ({_HOW})")
    if "replace-me" in url.lower():
        raise ValueError(f"still holds the placeholder of deploy.env.example, got {url!r}")


def check_api_keys(keys: Sequence[str]) -> None:
    """Every key of one scope: long enough and none of the development ones (several keys: rotation)."""
    for number, key in enumerate(keys, start=1):
        which = f"key {number} of {len(keys)}"
        if is_development_value(key):
            raise ValueError(f": {which} is a development key, public in this repository; production needs "
                             f"keys of its own, e.g. from {_NEW_KEY} ({_HOW})")
        size = len(key.encode("utf-8"))
        if size < MIN_PRODUCTION_KEY_BYTES:
            raise ValueError(f": every key must be at least {MIN_PRODUCTION_KEY_BYTES} bytes in production "
                             f"({which} has {size}); make one with {_NEW_KEY}")


def check_flower_logins(logins: Sequence[str]) -> None:
    for number, login in enumerate(logins, start=1):
        if is_development_value(login.partition(":")[2]):
            raise ValueError(f": login {number} of {len(logins)} has a development password, public in this "
                             f"repository; production needs a password of its own ({_HOW})")


def check_database_password(url: str) -> None:
    try:
        password = urlsplit(url).password
    except ValueError:
        return
    if password and (password in DEVELOPMENT_PASSWORDS or is_development_value(password)):
        raise ValueError(f"holds a development database password, public in this repository ({_HOW})")
