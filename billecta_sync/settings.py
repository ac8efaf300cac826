"""Settings, read once at start-up from an optional YAML file and the environment.

Built on pydantic-settings: one typed field per setting, named by its environment variable, fed by two
sources — the environment, then the YAML file (so the environment wins) — and validated strictly. Anything
missing or malformed stops start-up with one message naming the setting (``InvalidBillectaApiConfig`` for
the Billecta part). In production mode (``BILLECTA_SYNC_ENV``, the default) the development keys, short
keys, http:// URLs and a missing Lime webhook secret or Flower login are refused too
(``billecta_sync.settings_production``). Secrets are held in ``Secret`` values whose ``repr`` never shows
them, so they cannot leak into logs by accident.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, cast
from urllib.parse import urlparse

import yaml
from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticKnownError, PydanticUndefined
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from billecta_sync import settings_production as production
from billecta_sync.mappings import FieldMappings, MappingError

DEFAULT_PREFIX = "/limepkg-billecta-integration"
#: brokers Celery is run on here: Redis (the default, also the home of locks and rate limits) or RabbitMQ
BROKER_SCHEMES = ("redis://", "rediss://", "unix://", "amqp://", "amqps://", "pyamqp://")
SCOPES = ("webhook", "commands", "operator")


class ConfigError(Exception):
    """A setting is missing or invalid; the message names it."""


class InvalidBillectaApiConfig(ConfigError):
    """The Billecta API settings (base URL or Authorization value) are missing or malformed."""


class Secret(SecretStr):
    """A string that does not show itself in ``repr``/``str`` (and therefore not in logs)."""

    def get(self) -> str:
        return self.get_secret_value()

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


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
    #: signs the operator console's session cookie; ``None`` in development draws one per process
    session_secret: Secret | None = None
    #: where the console links to Flower
    flower_url: str = "http://127.0.0.1:5555"
    #: the most inbox rows one console replay takes
    console_replay_cap: int = 1000
    #: networks Billecta's webhooks may come from (empty: any); checked against the peer address
    billecta_allowed_networks: tuple[str, ...] = ()
    #: the longest the gateway waits on the database for one request before answering 503
    db_timeout_s: float = 5.0
    #: an access line for each webhook that was stored too (the inbox row records it already)
    log_stored_webhooks: bool = False


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
    # How long an invoice refresh waits for the rest of a burst of events about the same invoice.
    coalesce_window_s: float = 1.0
    metrics_port: int = 0  # the worker's Prometheus exporter (0: off)
    metrics_addr: str = "127.0.0.1"

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
class LimeMonitorSettings:
    """The copy of the integration monitor in Lime (``billecta_sync/usecases/jobs/lime_monitor.py``)."""

    #: mirror monitor batches and logs into Lime's integration_monitor_batch / integration_monitor_log
    mirror: bool = False
    #: the integration_monitor record they belong to (created when Lime has none with this key)
    integration_key: str = "billecta-sync"


@dataclass(frozen=True)
class FlowerSettings:
    # user:password logins Flower accepts (``--basic-auth``); two during a password change.
    basic_auth: tuple[Secret, ...] = ()


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
    #: the Celery broker (Redis or RabbitMQ); empty: ``redis_url``. Locks, rate limits and results stay on Redis.
    broker_url: str = ""
    #: prefix of the broker's queue and exchange names (several stacks on one RabbitMQ vhost); empty: none
    broker_namespace: str = ""
    log_level: str = "INFO"
    source: str = "environment"
    environment: str = production.PRODUCTION
    flower: FlowerSettings = field(default_factory=FlowerSettings)
    lime_monitor: LimeMonitorSettings = field(default_factory=LimeMonitorSettings)

    @property
    def production(self) -> bool:
        return self.environment == production.PRODUCTION

    @property
    def broker(self) -> str:
        """The URL Celery publishes and consumes tasks on."""
        return self.broker_url or self.redis_url

    def api_keys(self, scope: str) -> tuple[Secret, ...]:
        return tuple(self.gateway.api_keys.get(scope, ()))


# -- the input model: one field per setting ------------------------------------------------------------
def _setting(env: str, path: str, text: str, default: Any = PydanticUndefined, **constraints: Any) -> Any:
    """A field read from environment variable ``env`` or ``path`` in the YAML file ("-": environment only)."""
    return Field(default, validation_alias=env, description=text, json_schema_extra={"yaml": path}, **constraints)


def _list(value: Any) -> Any:
    """A comma-separated string (environment) or a YAML list, blanks dropped."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError("must be a list")
    return tuple(s for s in (str(item).strip() for item in items) if s)


def _logins(value: Any) -> Any:
    """Flower's own list: split on commas as Flower splits FLOWER_BASIC_AUTH, so nothing may pad them."""
    if isinstance(value, str):
        value = value.strip().split(",") if value.strip() else []
    if not isinstance(value, list | tuple):
        raise ValueError("must be a list")
    for login in value:
        user, _, password = str(login).partition(":")
        if not user or not password or str(login) != str(login).strip():
            raise ValueError(": every login must be user:password, logins separated by commas without spaces")
    return tuple(str(login) for login in value)


_Secrets = Annotated[tuple[Secret, ...], NoDecode, BeforeValidator(_list)]
_Logins = Annotated[tuple[Secret, ...], NoDecode, BeforeValidator(_logins)]
_Strings = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_list)]
_LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"],
                      BeforeValidator(lambda v: v.strip().upper() if isinstance(v, str) else v)]
_Environment = Annotated[Literal["production", "development"],
                         BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v)]
# The settings' defaults are those of the classes they end up in (which tests and clients build directly).
_B, _L, _G, _W = BillectaSettings, LimeSettings, GatewaySettings, WorkerSettings


def _production(info: ValidationInfo) -> bool:
    # The mode is the first field, so it is known here; when it is itself invalid, that error is reported first.
    return info.data.get("environment", production.PRODUCTION) == production.PRODUCTION


def _missing() -> PydanticKnownError:
    return PydanticKnownError("missing")


class _SettingsInput(BaseSettings):
    """Every setting as read, before it becomes the ``Settings`` the rest of the service uses."""

    model_config = SettingsConfigDict(case_sensitive=True, env_ignore_empty=True, extra="ignore",
                                      str_strip_whitespace=True, coerce_numbers_to_str=True, allow_inf_nan=False)

    environment: _Environment = _setting(
        "BILLECTA_SYNC_ENV", "-",
        "production (default) or development; production refuses the development keys and passwords, keys "
        "shorter than 32 bytes, http:// URLs for Billecta and Lime, an empty LIME_WEBHOOK_SECRET and an empty "
        "FLOWER_BASIC_AUTH (environment only: a config file cannot switch the checks off)",
        production.PRODUCTION)
    billecta_api_base_url: str = _setting(
        "BILLECTA_API_BASE_URL", "billecta.api.base_url",
        "Billecta API base URL, e.g. https://apitest.billecta.com/v1 (https in production)")
    billecta_api_authentication: Secret = _setting(
        "BILLECTA_API_AUTHENTICATION", "billecta.api.authentication",
        "full Authorization header value: 'Basic <b64>' or 'SecureToken <b64>' (secret)")
    billecta_api_timeout_s: float = _setting(
        "BILLECTA_API_TIMEOUT_S", "billecta.api.timeout_s", "HTTP timeout for Billecta calls (default 30)",
        _B.timeout_s, ge=0.1)
    billecta_api_rate_limit_requests: int = _setting(
        "BILLECTA_API_RATE_LIMIT_REQUESTS", "billecta.api.rate_limit_requests",
        "Billecta requests allowed per period, shared by all workers through Redis (default 6000; Billecta "
        "publishes no limit)", _B.rate_limit_requests, ge=1)
    billecta_api_rate_limit_period_s: float = _setting(
        "BILLECTA_API_RATE_LIMIT_PERIOD_S", "billecta.api.rate_limit_period_s",
        "length of that period in seconds (default 60)", _B.rate_limit_period_s, ge=1)
    lime_base_url: str = _setting(
        "LIME_BASE_URL", "lime.base_url", "Lime REST base URL ending in /api/v1/ (https in production)")
    lime_api_key: Secret = _setting("LIME_API_KEY", "lime.api_key", "Lime API key sent as X-API-Key (secret)")
    lime_webhook_secret: Secret | None = _setting(
        "LIME_WEBHOOK_SECRET", "lime.webhook_secret",
        "secret of the Lime webhook subscription (secret; required in production)", None, validate_default=True)
    lime_rate_limit_requests: int = _setting(
        "LIME_RATE_LIMIT_REQUESTS", "lime.rate_limit_requests", "Lime requests allowed per period (default 3000)",
        _L.rate_limit_requests, ge=1)
    lime_rate_limit_period_s: float = _setting(
        "LIME_RATE_LIMIT_PERIOD_S", "lime.rate_limit_period_s", "length of that period in seconds (default 300)",
        _L.rate_limit_period_s, ge=1)
    # None: follows the mode, so production mirrors unless told not to and `make run` does not unless told to.
    lime_monitor_mirror: bool | None = _setting(
        "LIME_MONITOR_MIRROR", "lime.monitor.mirror",
        "copy every monitor batch and log into Lime's integration monitor (integration_monitor_batch and "
        "integration_monitor_log; default: true in production, false in development)", None)
    lime_monitor_integration_key: str = _setting(
        "LIME_MONITOR_INTEGRATION_KEY", "lime.monitor.integration_key",
        "integration_key of the Lime integration_monitor record the mirrored batches belong to; created when "
        f"missing (default {LimeMonitorSettings.integration_key}, at most 32 characters)",
        LimeMonitorSettings.integration_key, min_length=1, max_length=32)
    gateway_prefix: str = _setting(
        "GATEWAY_PREFIX", "gateway.prefix", f"URL prefix of the gateway's endpoints (default {DEFAULT_PREFIX})",
        _G.prefix)
    gateway_api_keys_webhook: _Secrets = _setting(
        "GATEWAY_API_KEYS_WEBHOOK", "gateway.api_keys.webhook",
        "comma-separated keys accepted on the Billecta webhook receiver (secret; at least 32 bytes each in "
        "production; two during a key change)")
    gateway_api_keys_commands: _Secrets = _setting(
        "GATEWAY_API_KEYS_COMMANDS", "gateway.api_keys.commands",
        "comma-separated keys for Lime commands (secret; at least 32 bytes each in production)")
    gateway_api_keys_operator: _Secrets = _setting(
        "GATEWAY_API_KEYS_OPERATOR", "gateway.api_keys.operator",
        "comma-separated keys for operator endpoints (secret; at least 32 bytes each in production)")
    gateway_api_key_header: str = _setting(
        "GATEWAY_API_KEY_HEADER", "gateway.api_key_header", "header carrying the key (default X-API-Key)",
        _G.api_key_header, min_length=1)
    gateway_max_body_bytes: int = _setting(
        "GATEWAY_MAX_BODY_BYTES", "gateway.max_body_bytes", "largest accepted request body (default 1 MiB)",
        _G.max_body_bytes, ge=1024)
    gateway_command_wait_s: float = _setting(
        "GATEWAY_COMMAND_WAIT_S", "gateway.command_wait_s", "how long a command waits for its answer (default 5)",
        _G.command_wait_s, ge=0)
    database_url: str = _setting(
        "DATABASE_URL", "database.url",
        "SQLAlchemy URL of the service database (default sqlite:///var/billecta-sync.db)",
        "sqlite:///var/billecta-sync.db")
    redis_url: str = _setting(
        "REDIS_URL", "redis.url", "Redis URL for locks, rate limits, task results and, unless BROKER_URL names "
        "another, the Celery broker (default redis://127.0.0.1:6379/0)",
        "redis://127.0.0.1:6379/0")
    redis_embedded: bool = _setting(
        "REDIS_EMBEDDED", "redis.embedded", "start a private Redis when none answers (default true; 'run' only)",
        True)
    broker_url: str | None = _setting(
        "BROKER_URL", "broker.url",
        "Celery broker: a redis:// URL, or amqp://user:password@host:5672/vhost for RabbitMQ (default: REDIS_URL); "
        "locks, rate limits and task results stay on Redis either way (docs/operations.md, Brokers)", None)
    broker_namespace: str = _setting(
        "BROKER_NAMESPACE", "broker.namespace",
        "prefix of the broker's queue and exchange names, so several stacks can share one RabbitMQ virtual host "
        "or Redis database (default empty: the catalogue's names; a worker's -Q then takes <namespace>.<queue>)", "")
    worker_max_retries: int = _setting(
        "WORKER_MAX_RETRIES", "worker.max_retries", "retries before a task is dead-lettered (default 8)",
        _W.max_retries, ge=0)
    worker_retry_backoff_max_s: int = _setting(
        "WORKER_RETRY_BACKOFF_MAX_S", "worker.retry_backoff_max_s", "cap of the exponential backoff (default 600)",
        _W.retry_backoff_max_s, ge=1)
    worker_visibility_timeout_s: int = _setting(
        "WORKER_VISIBILITY_TIMEOUT_S", "worker.visibility_timeout_s",
        "longest a task may stay unacknowledged: Redis' visibility timeout; on RabbitMQ set the server's "
        "consumer_timeout to at least this (default 3600)",
        _W.visibility_timeout_s, ge=10)
    worker_task_soft_time_limit_s: int = _setting(
        "WORKER_TASK_SOFT_TIME_LIMIT_S", "worker.task_soft_time_limit_s",
        "a task is interrupted (and retried) after this long (default 120)", _W.task_soft_time_limit_s, ge=5)
    worker_task_time_limit_s: int = _setting(
        "WORKER_TASK_TIME_LIMIT_S", "worker.task_time_limit_s",
        "a task's process is killed after this long (default 150); the per-object locks a dead worker held "
        "expire after this long too, and a webhook row it had claimed is free again 15 s later",
        _W.task_time_limit_s, ge=10)
    worker_sweep_interval_s: int = _setting(
        "WORKER_SWEEP_INTERVAL_S", "worker.sweep_interval_s",
        "how often the sweeper re-publishes rows that never reached a worker (default 60; rows waiting "
        "twice that long are re-published)", _W.sweep_interval_s, ge=5)
    worker_coalesce_window_s: float = _setting(
        "WORKER_COALESCE_WINDOW_S", "worker.coalesce_window_s",
        "how long an invoice refresh waits for more events about the same invoice, which it then covers "
        "(0: no wait)", _W.coalesce_window_s, ge=0, le=30)
    worker_metrics_port: int = _setting(
        "WORKER_METRICS_PORT", "worker.metrics_port",
        "port of the worker's Prometheus exporter (/metrics; default 0: off); with several worker processes on "
        "one machine give each its own, and set PROMETHEUS_MULTIPROC_DIR (docs/operations.md, Metrics)",
        _W.metrics_port, ge=0, le=65535)
    worker_metrics_addr: str = _setting(
        "WORKER_METRICS_ADDR", "worker.metrics_addr",
        "address the worker's exporter listens on (default 127.0.0.1: only local scrapers)", _W.metrics_addr,
        min_length=1)
    log_level: _LogLevel = _setting("LOG_LEVEL", "log_level", "DEBUG, INFO, WARNING or ERROR (default INFO)", "INFO")
    retention_days: int = _setting(
        "RETENTION_DAYS", "worker.retention_days",
        "days finished inbox rows and monitor batches/logs are kept before the nightly clean-up (default 90)",
        _W.retention_days, ge=1)
    gateway_session_secret: Secret | None = _setting(
        "GATEWAY_SESSION_SECRET", "gateway.session_secret",
        "signs the operator console's session cookie (secret; required in production, at least 32 bytes; in "
        "development an empty one is drawn per process, so sessions do not survive a restart)", None,
        validate_default=True)
    gateway_console_replay_cap: int = _setting(
        "GATEWAY_CONSOLE_REPLAY_CAP", "gateway.console_replay_cap",
        "most inbox rows one replay from the operator console takes (default 1000)", _G.console_replay_cap,
        ge=1, le=10_000)
    gateway_billecta_allowed_networks: _Strings = _setting(
        "GATEWAY_BILLECTA_ALLOWED_NETWORKS", "gateway.billecta_allowed_networks",
        "comma-separated networks (CIDR) Billecta's webhooks may come from; others get 403 and nothing is "
        "stored (default: any). Checked against the peer address: behind a proxy, allow the proxy", (),
        validate_default=True)
    gateway_db_timeout_s: float = _setting(
        "GATEWAY_DB_TIMEOUT_S", "gateway.db_timeout_s",
        "longest the gateway waits on the database per request before answering 503, so a sender retries "
        "instead of waiting on a hung worker (default 5)", _G.db_timeout_s, gt=0, le=60)
    gateway_log_stored_webhooks: bool = _setting(
        "GATEWAY_LOG_STORED_WEBHOOKS", "gateway.log_stored_webhooks",
        "write an access line for every webhook answered 2xx as well (default false: its inbox row records it, "
        "with the correlation id; refused ones and every other request are always logged)",
        _G.log_stored_webhooks)
    flower_url: str = _setting(
        "FLOWER_URL", "flower.url", "Flower's address, linked from the operator console (default "
        "http://127.0.0.1:5555)", _G.flower_url)
    flower_basic_auth: _Logins = _setting(
        "FLOWER_BASIC_AUTH", "flower.basic_auth",
        "Flower's login as user:password, comma-separated for two during a password change; Flower itself "
        "reads this variable too (secret; required in production)", (), validate_default=True)

    # -- checks of single settings (the name is put in front of each message) -----------------------------
    @field_validator("billecta_api_base_url", "lime_base_url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in {"http", "https"} or not parsed.netloc:
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        if _production(info):
            production.require_https(value)
        return value

    @field_validator("billecta_api_authentication")
    @classmethod
    def _authorization(cls, value: Secret, info: ValidationInfo) -> Secret:
        scheme, _, token = value.get().partition(" ")
        if scheme not in {"Basic", "SecureToken"} or not token.strip():
            raise ValueError("must be the full Authorization header value, 'Basic <base64>' or 'SecureToken <base64>'")
        if _production(info):
            production.refuse_development_value(value.get(), "token")
        return value

    @field_validator("lime_api_key")
    @classmethod
    def _lime_key(cls, value: Secret, info: ValidationInfo) -> Secret:
        if not value.get():
            raise _missing()
        if _production(info):
            production.refuse_development_value(value.get(), "key")
        return value

    @field_validator("lime_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: Secret | None, info: ValidationInfo) -> Secret | None:
        secret = value if value is not None and value.get() else None
        if _production(info):
            if secret is None:
                raise _missing()
            production.refuse_development_value(secret.get(), "secret")
        return secret

    @field_validator("gateway_session_secret")
    @classmethod
    def _session_secret(cls, value: Secret | None, info: ValidationInfo) -> Secret | None:
        secret = value if value is not None and value.get() else None
        if _production(info):
            if secret is None:
                raise _missing()
            production.refuse_development_value(secret.get(), "secret")
            size = len(secret.get().encode("utf-8"))
            if size < production.MIN_PRODUCTION_KEY_BYTES:
                raise ValueError(f"must be at least {production.MIN_PRODUCTION_KEY_BYTES} bytes in production "
                                 f"(it has {size})")
        return secret

    @field_validator("flower_url")
    @classmethod
    def _flower_url(cls, value: str) -> str:
        parsed = urlparse(value)
        if parsed.scheme not in {"http", "https"} or not parsed.netloc:
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value

    @field_validator("gateway_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value and (not value.startswith("/") or value.endswith("/")):
            raise ValueError(f"must start with '/' and not end with one, got {value!r}")
        return value

    @field_validator("gateway_api_keys_webhook", "gateway_api_keys_commands", "gateway_api_keys_operator")
    @classmethod
    def _keys(cls, value: tuple[Secret, ...], info: ValidationInfo) -> tuple[Secret, ...]:
        if not value:
            raise _missing()
        keys = [key.get() for key in value]
        if any(len(key) < 8 for key in keys):
            raise ValueError(": every key must be at least 8 characters")
        if _production(info):
            production.check_api_keys(keys)
        return value

    @field_validator("gateway_billecta_allowed_networks")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f": {network!r} is not a network such as 192.0.2.0/24 or 2001:db8::/32") from None
        return value

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str, info: ValidationInfo) -> str:
        if "://" not in value:
            raise ValueError(f"must be an SQLAlchemy URL, got {value!r}")
        if _production(info):
            production.check_database_password(value)
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"must be a redis:// URL, got {value!r}")
        return value

    @field_validator("broker_url")
    @classmethod
    def _broker(cls, value: str | None) -> str | None:
        if value and not value.startswith(BROKER_SCHEMES):
            raise ValueError(f"must be a redis:// or amqp:// URL, got {without_password(value)!r}")
        return value or None

    @field_validator("broker_namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}", value):
            raise ValueError(f"must be up to 40 letters, digits, '_' or '-', got {value!r}")
        return value

    @field_validator("flower_basic_auth")
    @classmethod
    def _flower(cls, value: tuple[Secret, ...], info: ValidationInfo) -> tuple[Secret, ...]:
        logins = [login.get() for login in value]
        if _production(info):
            if not logins:
                raise _missing()
            production.check_flower_logins(logins)
        return value

    # -- checks across settings ------------------------------------------------------------------------
    @model_validator(mode="after")
    def _time_limits(self) -> _SettingsInput:
        soft, hard = self.worker_task_soft_time_limit_s, self.worker_task_time_limit_s
        if soft >= hard:
            raise ValueError(
                "setting WORKER_TASK_SOFT_TIME_LIMIT_S must be below WORKER_TASK_TIME_LIMIT_S "
                f"({soft} >= {hard}): the soft limit lets a task record its failure before the hard limit kills it"
            )
        if self.worker_visibility_timeout_s <= self.worker_retry_backoff_max_s + hard:
            raise ValueError(
                "setting WORKER_VISIBILITY_TIMEOUT_S must exceed WORKER_RETRY_BACKOFF_MAX_S plus the task time limit "
                f"({self.worker_retry_backoff_max_s + hard} s), or Redis redelivers waiting retries"
            )
        return self

    def to_settings(self, mappings: FieldMappings, source: str) -> Settings:
        return Settings(
            billecta=BillectaSettings(
                base_url=self.billecta_api_base_url.rstrip("/"),
                authentication=self.billecta_api_authentication,
                timeout_s=self.billecta_api_timeout_s,
                rate_limit_requests=self.billecta_api_rate_limit_requests,
                rate_limit_period_s=self.billecta_api_rate_limit_period_s,
            ),
            lime=LimeSettings(
                base_url=self.lime_base_url.rstrip("/") + "/",
                api_key=self.lime_api_key,
                webhook_secret=self.lime_webhook_secret,
                rate_limit_requests=self.lime_rate_limit_requests,
                rate_limit_period_s=self.lime_rate_limit_period_s,
            ),
            gateway=GatewaySettings(
                prefix=self.gateway_prefix,
                api_keys={scope: getattr(self, f"gateway_api_keys_{scope}") for scope in SCOPES},
                api_key_header=self.gateway_api_key_header,
                max_body_bytes=self.gateway_max_body_bytes,
                command_wait_s=self.gateway_command_wait_s,
                session_secret=self.gateway_session_secret,
                flower_url=self.flower_url,
                console_replay_cap=self.gateway_console_replay_cap,
                billecta_allowed_networks=self.gateway_billecta_allowed_networks,
                db_timeout_s=self.gateway_db_timeout_s,
                log_stored_webhooks=self.gateway_log_stored_webhooks,
            ),
            worker=WorkerSettings(
                max_retries=self.worker_max_retries,
                retry_backoff_max_s=self.worker_retry_backoff_max_s,
                visibility_timeout_s=self.worker_visibility_timeout_s,
                retention_days=self.retention_days,
                task_soft_time_limit_s=self.worker_task_soft_time_limit_s,
                task_time_limit_s=self.worker_task_time_limit_s,
                sweep_interval_s=self.worker_sweep_interval_s,
                coalesce_window_s=self.worker_coalesce_window_s,
                metrics_port=self.worker_metrics_port,
                metrics_addr=self.worker_metrics_addr,
            ),
            database_url=self.database_url,
            redis_url=self.redis_url,
            mappings=mappings,
            embedded_redis=self.redis_embedded,
            broker_url=self.broker_url or self.redis_url,
            broker_namespace=self.broker_namespace,
            log_level=self.log_level,
            source=source,
            environment=self.environment,
            flower=FlowerSettings(basic_auth=self.flower_basic_auth),
            lime_monitor=LimeMonitorSettings(
                mirror=(self.environment == production.PRODUCTION if self.lime_monitor_mirror is None
                        else self.lime_monitor_mirror),
                integration_key=self.lime_monitor_integration_key,
            ),
        )


def without_password(url: str) -> str:
    # An amqp:// URL carries the broker's password; a refusal message must not.
    return re.sub(r"://([^:/@]*):[^@/]*@", r"://\1:***@", url)


def _yaml_path(env_name: str) -> str:
    extra = cast(dict[str, str], _SettingsInput.model_fields[_FIELD_OF[env_name]].json_schema_extra)
    return extra["yaml"]


_FIELD_OF: dict[str, str] = {str(f.validation_alias): name for name, f in _SettingsInput.model_fields.items()}
_ENV_OF = {name: env for env, name in _FIELD_OF.items()}
_BILLECTA_API = {"BILLECTA_API_BASE_URL", "BILLECTA_API_AUTHENTICATION"}
_WHY_NEEDED = {
    **{f"GATEWAY_API_KEYS_{scope.upper()}": ": at least one key is needed" for scope in SCOPES},
    # Required in production only:
    "LIME_WEBHOOK_SECRET": ": production checks the signature of every Lime webhook with it "
                           "(set BILLECTA_SYNC_ENV=development for a local stack)",
    "GATEWAY_SESSION_SECRET": ": production signs the operator console's sessions with it, e.g. from "
                              "python -c 'import secrets; print(secrets.token_urlsafe(32))' "
                              "(set BILLECTA_SYNC_ENV=development for a local stack)",
    "FLOWER_BASIC_AUTH": ": production runs Flower only behind basic auth, e.g. FLOWER_BASIC_AUTH=ops:<password> "
                         "(set BILLECTA_SYNC_ENV=development for a local stack)",
}

# (environment variable, path in the YAML file, description) for every setting; docs are generated from it.
ENV_SETTINGS: tuple[tuple[str, str, str], ...] = (
    ("BILLECTA_SYNC_CONFIG", "-", "path of the YAML config file (optional)"),
    *((env, _yaml_path(env), str(_SettingsInput.model_fields[name].description)) for env, name in _FIELD_OF.items()),
)


# -- sources ---------------------------------------------------------------------------------------------
class _EnvironmentSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (``os.environ`` unless a test passes one);
    an empty or blank variable counts as unset."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name: value for name, value in self._environ.items() if value.strip()}


class _ConfigFileSource(PydanticBaseSettingsSource):
    """The YAML file's values, each found at its setting's path."""

    def __init__(self, settings_cls: type[BaseSettings], data: Mapping[str, Any]) -> None:
        super().__init__(settings_cls)
        self.data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        extra = cast(dict[str, str], field.json_schema_extra)
        return _dig(self.data, extra["yaml"]), str(field.validation_alias), False

    def __call__(self) -> dict[str, Any]:
        found = {}
        for name, info in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(info, name)
            if value is not None:
                found[key] = value
        return found


def _dig(data: Mapping[str, Any], dotted: str) -> Any:
    if dotted == "-":
        return None
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


_FILE_PATHS = {path for _env, path, _text in ENV_SETTINGS if path != "-"} | {"mappings"}


def _unknown_keys(data: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Paths in the file that name no setting (typos would otherwise be ignored without a word)."""
    unknown = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        if path in _FILE_PATHS:
            continue
        if isinstance(value, Mapping) and any(p.startswith(f"{path}.") for p in _FILE_PATHS):
            unknown += _unknown_keys(value, f"{path}.")
        else:
            unknown.append(path)
    return unknown


def _read_config_file(path: str | os.PathLike[str]) -> Mapping[str, Any]:
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {file} (BILLECTA_SYNC_CONFIG) does not exist")
    try:
        loaded = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {file} is not valid YAML: {exc}") from None
    if not isinstance(loaded, Mapping):
        raise ConfigError(f"config file {file} must hold a mapping at the top level")
    unknown = _unknown_keys(loaded)
    if unknown:
        raise ConfigError(f"config file {file} has unknown settings {unknown}; `billecta-sync config env` lists "
                          "every setting and its path")
    return loaded


_EXPECTED = {
    "int_parsing": "an integer", "int_type": "an integer", "int_from_float": "an integer",
    "float_parsing": "a number", "float_type": "a number", "finite_number": "a finite number",
    "bool_parsing": "true or false", "bool_type": "true or false",
}


def _config_error(error: ErrorDetails, from_environment: Mapping[str, Any]) -> ConfigError:
    """The first validation error as the one message start-up stops with."""
    context = error.get("ctx") or {}
    if not error["loc"]:  # a check across settings: its message names them
        return ConfigError(str(context.get("error", error["msg"])))
    env = str(error["loc"][0])
    env = _ENV_OF.get(env, env)  # a default that was validated is located by its field's name
    kind = InvalidBillectaApiConfig if env in _BILLECTA_API else ConfigError
    path = _yaml_path(env)
    if error["type"] == "missing":
        where = f" (or '{path}' in the config file)" if path != "-" else ""
        return kind(f"missing setting {env}{where}{_WHY_NEEDED.get(env, '')}")
    name = env if env in from_environment or path == "-" else f"{env} ('{path}' in the config file)"
    value = error.get("input")
    kind_of_error = error["type"]
    if kind_of_error == "value_error":
        text = str(context.get("error", error["msg"]))
    elif kind_of_error in _EXPECTED:
        text = f"must be {_EXPECTED[kind_of_error]}, got {value!r}"
    elif kind_of_error in {"greater_than_equal", "greater_than"}:
        text = f"must be at least {context.get('ge', context.get('gt'))}, got {value}"
    elif kind_of_error == "literal_error":
        text = f"must be {context.get('expected')}, got {value!r}"
    elif kind_of_error == "string_type":
        text = "must be a string"
    elif kind_of_error == "string_too_short":
        text = "must not be empty"
    elif kind_of_error == "string_too_long":
        text = f"must be at most {context.get('max_length')} characters"
    else:
        text = f"is not valid: {error['msg']}"
    return kind(f"setting {name}{'' if text.startswith(':') else ' '}{text}")


def load_settings(env: Mapping[str, str] | None = None, config_file: str | os.PathLike[str] | None = None) -> Settings:
    """Read and check every setting; raise ``ConfigError`` naming the first bad one."""
    environ = dict(os.environ if env is None else env)
    path = config_file or environ.get("BILLECTA_SYNC_CONFIG")
    data: Mapping[str, Any] = _read_config_file(path) if path else {}
    environment = _EnvironmentSource(_SettingsInput, environ)
    try:
        read = _SettingsInput(_build_sources=((environment, _ConfigFileSource(_SettingsInput, data)), {}))
    except ValidationError as exc:
        raise _config_error(exc.errors()[0], environment.env_vars) from None
    try:
        mappings = FieldMappings.build(_dig(data, "mappings"))
    except MappingError as exc:
        raise ConfigError(f"setting mappings: {exc}") from None
    return read.to_settings(mappings, f"{Path(path)} + environment" if path else "environment")


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
