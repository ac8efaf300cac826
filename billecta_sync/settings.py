"""Settings, read once at start-up from an optional YAML file and the environment.

Environment variables win over the file. Anything missing or malformed stops start-up with one
message naming the setting (``InvalidBillectaApiConfig`` for the Billecta part). Secrets are held in
``Secret`` values whose ``repr`` never shows them, so they cannot leak into logs by accident.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from billecta_sync.mappings import FieldMappings, MappingError

DEFAULT_PREFIX = "/limepkg-billecta-integration"
SCOPES = ("webhook", "commands", "operator")


class ConfigError(Exception):
    """A setting is missing or invalid; the message names it."""


class InvalidBillectaApiConfig(ConfigError):
    """The Billecta API settings (base URL or Authorization value) are missing or malformed."""


class Secret:
    """A string that does not show itself in ``repr``/``str`` (and therefore not in logs)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class BillectaSettings:
    base_url: str
    authentication: Secret
    timeout_s: float = 30.0
    max_attempts: int = 4
    retry_after_cap_s: float = 30.0
    # Billecta publishes no request budget; this shared one only keeps a 10 000-object batch on many
    # workers from hammering it. Lower it if Billecta answers 429s (those are retried after Retry-After).
    rate_limit_requests: int = 6000
    rate_limit_period_s: float = 60.0


@dataclass(frozen=True)
class LimeSettings:
    base_url: str  # e.g. https://acme.lime-crm.com/acme/api/v1/
    api_key: Secret
    webhook_secret: Secret | None = None
    timeout_s: float = 30.0
    max_attempts: int = 4
    # Lime Cloud allows 3000 requests per 5 minutes per IP; all workers share this budget.
    rate_limit_requests: int = 3000
    rate_limit_period_s: float = 300.0


@dataclass(frozen=True)
class GatewaySettings:
    prefix: str = DEFAULT_PREFIX
    api_keys: Mapping[str, tuple[Secret, ...]] = field(default_factory=dict)
    api_key_header: str = "X-API-Key"
    max_body_bytes: int = 1_048_576
    command_wait_s: float = 5.0
    host: str = "127.0.0.1"
    port: int = 8000


@dataclass(frozen=True)
class WorkerSettings:
    task_soft_time_limit_s: int = 120
    task_time_limit_s: int = 150
    max_retries: int = 8
    retry_backoff_max_s: int = 600
    # Must exceed the longest retry countdown plus run time, or Redis redelivers tasks in a loop.
    visibility_timeout_s: int = 3600
    retention_days: int = 90  # how long finished inbox rows and monitor history are kept
    sweep_interval_s: int = 60  # how often rows that never reached a worker are looked for

    @property
    def lock_timeout_s(self) -> int:
        """How long a per-object lock outlives a holder that died: a task holding one is killed at its
        hard time limit at the latest, so the lock never expires under a task that still works."""
        return self.task_time_limit_s

    @property
    def inbox_lease_s(self) -> int:
        """How long a claimed inbox row stays with its worker: past the hard time limit the worker is
        gone (killed or timed out), so the row may be taken again; the margin covers clock skew."""
        return self.task_time_limit_s + 15

    @property
    def stuck_after_s(self) -> int:
        """A row received or queued this long ago without being claimed is published again."""
        return 2 * self.sweep_interval_s


@dataclass(frozen=True)
class Settings:
    billecta: BillectaSettings
    lime: LimeSettings
    gateway: GatewaySettings
    worker: WorkerSettings
    database_url: str
    redis_url: str
    mappings: FieldMappings
    embedded_redis: bool = True  # start a private Redis server when none answers at redis_url
    log_level: str = "INFO"
    source: str = "environment"

    def api_keys(self, scope: str) -> tuple[Secret, ...]:
        return tuple(self.gateway.api_keys.get(scope, ()))


# (environment variable, path in the YAML file, description) for every setting; docs are generated from it.
ENV_SETTINGS: tuple[tuple[str, str, str], ...] = (
    ("BILLECTA_SYNC_CONFIG", "-", "path of the YAML config file (optional)"),
    ("BILLECTA_API_BASE_URL", "billecta.api.base_url", "Billecta API base URL, e.g. https://apitest.billecta.com/v1"),
    ("BILLECTA_API_AUTHENTICATION", "billecta.api.authentication",
     "full Authorization header value: 'Basic <b64>' or 'SecureToken <b64>' (secret)"),
    ("BILLECTA_API_TIMEOUT_S", "billecta.api.timeout_s", "HTTP timeout for Billecta calls (default 30)"),
    ("BILLECTA_API_RATE_LIMIT_REQUESTS", "billecta.api.rate_limit_requests",
     "Billecta requests allowed per period, shared by all workers (default 6000)"),
    ("BILLECTA_API_RATE_LIMIT_PERIOD_S", "billecta.api.rate_limit_period_s",
     "length of that period in seconds (default 60)"),
    ("LIME_BASE_URL", "lime.base_url", "Lime REST base URL ending in /api/v1/"),
    ("LIME_API_KEY", "lime.api_key", "Lime API key sent as X-API-Key (secret)"),
    ("LIME_WEBHOOK_SECRET", "lime.webhook_secret", "secret of the Lime webhook subscription (secret)"),
    ("LIME_RATE_LIMIT_REQUESTS", "lime.rate_limit_requests", "Lime requests allowed per period (default 3000)"),
    ("LIME_RATE_LIMIT_PERIOD_S", "lime.rate_limit_period_s", "length of that period in seconds (default 300)"),
    ("GATEWAY_PREFIX", "gateway.prefix", f"URL prefix of the gateway's endpoints (default {DEFAULT_PREFIX})"),
    ("GATEWAY_API_KEYS_WEBHOOK", "gateway.api_keys.webhook",
     "comma-separated keys accepted on the Billecta webhook receiver (secret)"),
    ("GATEWAY_API_KEYS_COMMANDS", "gateway.api_keys.commands", "comma-separated keys for Lime commands (secret)"),
    ("GATEWAY_API_KEYS_OPERATOR", "gateway.api_keys.operator", "comma-separated keys for operator endpoints (secret)"),
    ("GATEWAY_API_KEY_HEADER", "gateway.api_key_header", "header carrying the key (default X-API-Key)"),
    ("GATEWAY_MAX_BODY_BYTES", "gateway.max_body_bytes", "largest accepted request body (default 1 MiB)"),
    ("GATEWAY_COMMAND_WAIT_S", "gateway.command_wait_s", "how long a command waits for its answer (default 5)"),
    ("DATABASE_URL", "database.url", "SQLAlchemy URL of the service database (default sqlite:///var/billecta-sync.db)"),
    ("REDIS_URL", "redis.url", "Redis URL for the Celery broker and locks (default redis://127.0.0.1:6379/0)"),
    ("REDIS_EMBEDDED", "redis.embedded", "start a private Redis when none answers (default true; 'run' only)"),
    ("WORKER_MAX_RETRIES", "worker.max_retries", "retries before a task is dead-lettered (default 8)"),
    ("WORKER_RETRY_BACKOFF_MAX_S", "worker.retry_backoff_max_s", "cap of the exponential backoff (default 600)"),
    ("WORKER_VISIBILITY_TIMEOUT_S", "worker.visibility_timeout_s", "Redis visibility timeout (default 3600)"),
    ("WORKER_TASK_SOFT_TIME_LIMIT_S", "worker.task_soft_time_limit_s",
     "a task is interrupted (and retried) after this long (default 120)"),
    ("WORKER_TASK_TIME_LIMIT_S", "worker.task_time_limit_s",
     "a task's process is killed after this long (default 150); the per-object locks a dead worker held "
     "expire after this long too, and a webhook row it had claimed is free again 15 s later"),
    ("WORKER_SWEEP_INTERVAL_S", "worker.sweep_interval_s",
     "how often the sweeper re-publishes rows that never reached a worker (default 60; rows waiting "
     "twice that long are re-published)"),
    ("LOG_LEVEL", "log_level", "DEBUG, INFO, WARNING or ERROR (default INFO)"),
    ("RETENTION_DAYS", "worker.retention_days",
     "days finished inbox rows and monitor batches/logs are kept before the nightly clean-up (default 90)"),
)


def _dig(data: Mapping[str, Any], dotted: str) -> Any:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


class _Reader:
    def __init__(self, data: Mapping[str, Any], env: Mapping[str, str]) -> None:
        self.data = data
        self.env = env

    def raw(self, env_name: str, path: str) -> tuple[Any, str]:
        if env_name in self.env and self.env[env_name] != "":
            return self.env[env_name], env_name
        return _dig(self.data, path), path

    def text(self, env_name: str, path: str, default: str | None = None, *, error: type[ConfigError] = ConfigError,
             required: bool = False) -> str | None:
        value, where = self.raw(env_name, path)
        if value is None:
            if required:
                raise error(f"missing setting {env_name} (or '{path}' in the config file)")
            return default
        if not isinstance(value, str | int | float):
            raise error(f"setting {where} must be a string")
        return str(value).strip()

    def number(self, env_name: str, path: str, default: float, kind: type = float, minimum: float = 0) -> Any:
        value, where = self.raw(env_name, path)
        if value is None:
            return kind(default)
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise ConfigError(f"setting {where} must be a {kind.__name__}, got {value!r}") from None
        if number < minimum:
            raise ConfigError(f"setting {where} must be at least {minimum}, got {number}")
        return number

    def flag(self, env_name: str, path: str, default: bool) -> bool:
        value, where = self.raw(env_name, path)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"setting {where} must be true or false, got {value!r}")

    def keys(self, env_name: str, path: str) -> tuple[Secret, ...]:
        value, where = self.raw(env_name, path)
        if value is None:
            return ()
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise ConfigError(f"setting {where} must be a list of keys")
        keys = tuple(Secret(str(k).strip()) for k in items if str(k).strip())
        for key in keys:
            if len(key.get()) < 8:
                raise ConfigError(f"setting {where}: every key must be at least 8 characters")
        return keys


def _check_url(value: str, name: str, error: type[ConfigError] = ConfigError) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise error(f"setting {name} must be an http(s) URL, got {value!r}")
    return value


def load_settings(env: Mapping[str, str] | None = None, config_file: str | os.PathLike[str] | None = None) -> Settings:
    """Read and check every setting; raise ``ConfigError`` naming the first bad one."""
    env = dict(os.environ if env is None else env)
    path = config_file or env.get("BILLECTA_SYNC_CONFIG")
    data: Mapping[str, Any] = {}
    source = "environment"
    if path:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"config file {file} (BILLECTA_SYNC_CONFIG) does not exist")
        try:
            loaded = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {file} is not valid YAML: {exc}") from None
        if not isinstance(loaded, Mapping):
            raise ConfigError(f"config file {file} must hold a mapping at the top level")
        data = loaded
        source = f"{file} + environment"
    r = _Reader(data, env)

    base_url = r.text("BILLECTA_API_BASE_URL", "billecta.api.base_url", error=InvalidBillectaApiConfig, required=True)
    assert base_url is not None
    _check_url(base_url, "BILLECTA_API_BASE_URL", InvalidBillectaApiConfig)
    auth = r.text("BILLECTA_API_AUTHENTICATION", "billecta.api.authentication",
                  error=InvalidBillectaApiConfig, required=True)
    assert auth is not None
    scheme, _, token = auth.partition(" ")
    if scheme not in {"Basic", "SecureToken"} or not token.strip():
        raise InvalidBillectaApiConfig(
            "setting BILLECTA_API_AUTHENTICATION must be the full Authorization header value, "
            "'Basic <base64>' or 'SecureToken <base64>'"
        )
    billecta = BillectaSettings(
        base_url=base_url.rstrip("/"),
        authentication=Secret(auth),
        timeout_s=r.number("BILLECTA_API_TIMEOUT_S", "billecta.api.timeout_s", 30.0, minimum=0.1),
        rate_limit_requests=r.number("BILLECTA_API_RATE_LIMIT_REQUESTS", "billecta.api.rate_limit_requests",
                                     6000, int, 1),
        rate_limit_period_s=r.number("BILLECTA_API_RATE_LIMIT_PERIOD_S", "billecta.api.rate_limit_period_s",
                                     60.0, minimum=1),
    )

    lime_url = r.text("LIME_BASE_URL", "lime.base_url", required=True)
    assert lime_url is not None
    _check_url(lime_url, "LIME_BASE_URL")
    lime_key = r.text("LIME_API_KEY", "lime.api_key", required=True)
    assert lime_key is not None
    secret = r.text("LIME_WEBHOOK_SECRET", "lime.webhook_secret")
    lime = LimeSettings(
        base_url=lime_url.rstrip("/") + "/",
        api_key=Secret(lime_key),
        webhook_secret=Secret(secret) if secret else None,
        rate_limit_requests=r.number("LIME_RATE_LIMIT_REQUESTS", "lime.rate_limit_requests", 3000, int, 1),
        rate_limit_period_s=r.number("LIME_RATE_LIMIT_PERIOD_S", "lime.rate_limit_period_s", 300.0, minimum=1),
    )

    prefix = r.text("GATEWAY_PREFIX", "gateway.prefix", DEFAULT_PREFIX) or ""
    if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
        raise ConfigError(f"setting GATEWAY_PREFIX must start with '/' and not end with one, got {prefix!r}")
    api_keys = {
        scope: r.keys(f"GATEWAY_API_KEYS_{scope.upper()}", f"gateway.api_keys.{scope}") for scope in SCOPES
    }
    for scope, keys in api_keys.items():
        if not keys:
            raise ConfigError(
                f"missing setting GATEWAY_API_KEYS_{scope.upper()} (or 'gateway.api_keys.{scope}'): "
                "at least one key is needed"
            )
    gateway = GatewaySettings(
        prefix=prefix,
        api_keys=api_keys,
        api_key_header=r.text("GATEWAY_API_KEY_HEADER", "gateway.api_key_header", "X-API-Key") or "X-API-Key",
        max_body_bytes=r.number("GATEWAY_MAX_BODY_BYTES", "gateway.max_body_bytes", 1_048_576, int, 1024),
        command_wait_s=r.number("GATEWAY_COMMAND_WAIT_S", "gateway.command_wait_s", 5.0),
    )

    worker = WorkerSettings(
        max_retries=r.number("WORKER_MAX_RETRIES", "worker.max_retries", 8, int, 0),
        retry_backoff_max_s=r.number("WORKER_RETRY_BACKOFF_MAX_S", "worker.retry_backoff_max_s", 600, int, 1),
        visibility_timeout_s=r.number("WORKER_VISIBILITY_TIMEOUT_S", "worker.visibility_timeout_s", 3600, int, 10),
        retention_days=r.number("RETENTION_DAYS", "worker.retention_days", 90, int, 1),
        task_soft_time_limit_s=r.number("WORKER_TASK_SOFT_TIME_LIMIT_S", "worker.task_soft_time_limit_s", 120, int, 5),
        task_time_limit_s=r.number("WORKER_TASK_TIME_LIMIT_S", "worker.task_time_limit_s", 150, int, 10),
        sweep_interval_s=r.number("WORKER_SWEEP_INTERVAL_S", "worker.sweep_interval_s", 60, int, 5),
    )
    if worker.task_soft_time_limit_s >= worker.task_time_limit_s:
        raise ConfigError(
            "setting WORKER_TASK_SOFT_TIME_LIMIT_S must be below WORKER_TASK_TIME_LIMIT_S "
            f"({worker.task_soft_time_limit_s} >= {worker.task_time_limit_s}): the soft limit lets a task "
            "record its failure before the hard limit kills it"
        )
    if worker.visibility_timeout_s <= worker.retry_backoff_max_s + worker.task_time_limit_s:
        raise ConfigError(
            "setting WORKER_VISIBILITY_TIMEOUT_S must exceed WORKER_RETRY_BACKOFF_MAX_S plus the task time limit "
            f"({worker.retry_backoff_max_s + worker.task_time_limit_s} s), or Redis redelivers waiting retries"
        )

    database_url = r.text("DATABASE_URL", "database.url", "sqlite:///var/billecta-sync.db") or ""
    if "://" not in database_url:
        raise ConfigError(f"setting DATABASE_URL must be an SQLAlchemy URL, got {database_url!r}")
    redis_url = r.text("REDIS_URL", "redis.url", "redis://127.0.0.1:6379/0") or ""
    if not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"setting REDIS_URL must be a redis:// URL, got {redis_url!r}")

    try:
        mappings = FieldMappings.build(_dig(data, "mappings"))
    except MappingError as exc:
        raise ConfigError(f"setting mappings: {exc}") from None

    log_level = (r.text("LOG_LEVEL", "log_level", "INFO") or "INFO").upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"setting LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {log_level!r}")

    return Settings(
        billecta=billecta,
        lime=lime,
        gateway=gateway,
        worker=worker,
        database_url=database_url,
        redis_url=redis_url,
        mappings=mappings,
        embedded_redis=r.flag("REDIS_EMBEDDED", "redis.embedded", True),
        log_level=log_level,
        source=source,
    )


_cached: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings, loaded on first use."""
    global _cached
    if _cached is None:
        _cached = load_settings()
    return _cached


def set_settings(settings: Settings | None) -> None:
    """Install settings explicitly (tests, embedded runs); ``None`` forgets them."""
    global _cached
    _cached = settings
