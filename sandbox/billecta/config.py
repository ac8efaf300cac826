"""Settings of the Billecta sandbox: defaults, ``BILLECTA_SANDBOX_*`` environment variables, the checks a
setting must pass (at start-up and on ``POST /_sandbox/config``), and the catalogue of webhook triggers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from sandbox.common import Knobs

DEFAULT_AUTHORIZATION = "SecureToken ZGV2LWJpbGxlY3RhLXRva2Vu"  # base64("dev-billecta-token")
# Raised by payments, credits, reminders, debt collection, autogiro and the retrigger (the money after attest).
MONEY_TRIGGERS: tuple[str, ...] = (
    "InvoicePaymentReceived",
    "Overpayment",
    "OverpaymentMatchedToInvoice",
    "UnmatchedPayment",
    "AmountWrittenOffOnInvoice",
    "AmountCreditedOnInvoice",
    "ReminderInvoiceActionCreated",
    "DebtCollectionActionStateChanged",
    "AutogiroApprovalFailed",
    "AutogiroApprovalChanged",
    "AutogiroWithdrawalFailedOnInvoice",
    "AutogiroWithdrawalRenewedOnInvoice",
)
DEFAULT_WEBHOOK_TRIGGERS: tuple[str, ...] = (
    "InvoiceActionCreated",
    "InvoiceActionAttested",
    "InvoiceActionStateChanged",
    "DebtorCreated",
    "DebtorUpdated",
    *MONEY_TRIGGERS,
)
# Trigger types the sandbox can raise; like Billecta's portal, only the ticked ones are sent.
SUPPORTED_WEBHOOK_TRIGGERS: tuple[str, ...] = (
    *DEFAULT_WEBHOOK_TRIGGERS,
    "InvoiceActionPaid",
    "InvoiceActionDeleted",
    "DebtorDeleted",
    "CreditorCreated",
    "CreditorUpdated",
    "CreditorDeleted",
    "ProductCreated",
    "ProductUpdated",
)
# Webhook body styles (``outbox``); ``flat`` stays the default, which the service's older tests expect.
PAYLOAD_STYLES = ("flat", "nested", "documented")
ENV_PREFIX = "BILLECTA_SANDBOX_"
SWISH_OUTCOMES = ("Paid", "Declined", "Error")  # how a Swish request of the sandbox can end
# Settings ``POST /_sandbox/config`` also takes inside ``knobs`` (they are fault knobs in all but their home).
KNOB_LIKE_SETTINGS = frozenset({"stall_after_routes", "stall_after_s", "swish_delay_s", "swish_outcome"})


@dataclass
class BillectaSandboxConfig:
    """Start-up settings; all but ``request_log_size`` can be changed via ``POST /_sandbox/config``."""

    accepted_authorizations: list[str] = field(default_factory=lambda: [DEFAULT_AUTHORIZATION])
    webhook_url: str | None = None
    webhook_headers: dict[str, str] = field(default_factory=dict)
    webhook_payload_style: str = "flat"
    webhook_triggers: list[str] = field(default_factory=lambda: list(DEFAULT_WEBHOOK_TRIGGERS))
    knobs: Knobs = field(default_factory=Knobs)
    auto_send_delay_s: float = 0.2  # attest -> InvoiceSent; negative = never
    webhook_max_attempts: int = 5
    webhook_backoff_s: float = 0.5
    webhook_backoff_max_s: float = 30.0
    webhook_timeout_s: float = 10.0
    validate_responses: bool = True
    request_log_size: int = 10_000
    # The money routes (extensions/money.py). A new Swish request ends ``swish_outcome`` (Paid, Declined or
    # Error) after ``swish_delay_s`` (negative = only through POST /_sandbox/swish/<token>/complete).
    swish_delay_s: float = 2.0
    swish_outcome: str = "Paid"
    # "Billecta applied it, then the answer was lost": a /v1 route named here runs its handler (the change is
    # made) and then sleeps ``stall_after_s`` before answering, so a client's timeout fires first.
    stall_after_routes: list[str] = field(default_factory=list)
    stall_after_s: float = 30.0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["knobs"] = asdict(self.knobs)
        return out

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BillectaSandboxConfig:
        """Read ``BILLECTA_SANDBOX_*`` variables; unset ones keep the defaults.

        AUTHORIZATIONS (comma-separated header values), WEBHOOK_URL, WEBHOOK_HEADERS (a JSON object
        or ``Name: value`` pairs separated by ``;``), WEBHOOK_STYLE, WEBHOOK_TRIGGERS (comma-separated),
        AUTO_SEND_DELAY_S, WEBHOOK_MAX_ATTEMPTS, WEBHOOK_BACKOFF_S, WEBHOOK_BACKOFF_MAX_S,
        WEBHOOK_TIMEOUT_S, VALIDATE_RESPONSES, REQUEST_LOG_SIZE, SWISH_DELAY_S, SWISH_OUTCOME,
        STALL_AFTER_ROUTES (comma-separated route names), STALL_AFTER_S, and one per knob: LATENCY_MS,
        ERROR_RATE, RATE_LIMIT_PER_S, RATE_LIMIT_BURST, RETRY_AFTER_S, TIMEOUT_RATE, STALL_S.
        """
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(ENV_PREFIX + name)
            return value if value not in (None, "") else None

        config = cls()
        if (value := get("AUTHORIZATIONS")) is not None:
            config.accepted_authorizations = [v.strip() for v in value.split(",") if v.strip()]
        config.webhook_url = get("WEBHOOK_URL")
        if (value := get("WEBHOOK_HEADERS")) is not None:
            config.webhook_headers = parse_headers(value)
        if (value := get("WEBHOOK_STYLE")) is not None:
            config.webhook_payload_style = value
        if (value := get("WEBHOOK_TRIGGERS")) is not None:
            config.webhook_triggers = [v.strip() for v in value.split(",") if v.strip()]
        for name, kind in (
            ("auto_send_delay_s", float),
            ("webhook_max_attempts", int),
            ("webhook_backoff_s", float),
            ("webhook_backoff_max_s", float),
            ("webhook_timeout_s", float),
            ("request_log_size", int),
            ("swish_delay_s", float),
            ("swish_outcome", str),
            ("stall_after_s", float),
        ):
            if (value := get(name.upper())) is not None:
                setattr(config, name, kind(value))
        if (value := get("VALIDATE_RESPONSES")) is not None:
            config.validate_responses = value.strip().lower() in ("1", "true", "yes", "on")
        if (value := get("STALL_AFTER_ROUTES")) is not None:
            config.stall_after_routes = [v.strip() for v in value.split(",") if v.strip()]
        knob_values = {f.name: v for f in fields(Knobs) if (v := get(f.name.upper())) is not None}
        config.knobs.update(knob_values)
        check_config(config)
        return config


def parse_headers(text: str) -> dict[str, str]:
    """``{"A": "b"}`` JSON, or ``A: b; C: d``."""
    text = text.strip()
    if text.startswith("{"):
        parsed = json.loads(text)
        if not isinstance(parsed, dict):
            raise ValueError("webhook headers must be a JSON object")
        return {str(k): str(v) for k, v in parsed.items()}
    headers: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        name, sep, value = part.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"header {part!r} is not 'Name: value'")
        headers[name.strip()] = value.strip()
    return headers


def check_config(config: BillectaSandboxConfig) -> None:
    if config.swish_outcome not in SWISH_OUTCOMES:
        raise ValueError(f"swish_outcome must be one of {SWISH_OUTCOMES}")
    if not isinstance(config.stall_after_routes, list) or not all(
        isinstance(name, str) for name in config.stall_after_routes
    ):
        raise ValueError("stall_after_routes must be a list of route names")
    if config.webhook_payload_style not in PAYLOAD_STYLES:
        raise ValueError(f"webhook_payload_style must be one of {PAYLOAD_STYLES}")
    unknown = sorted(set(config.webhook_triggers) - set(SUPPORTED_WEBHOOK_TRIGGERS))
    if unknown:
        raise ValueError(f"unsupported webhook triggers {unknown}; supported: {list(SUPPORTED_WEBHOOK_TRIGGERS)}")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in config.webhook_headers.items()):
        raise ValueError("webhook_headers must map header names to string values")
    if config.webhook_max_attempts < 1:
        raise ValueError("webhook_max_attempts must be at least 1")


def checked_update(config: BillectaSandboxConfig, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check a ``POST /_sandbox/config`` body against ``config`` without changing it.

    Returns the knob values and the other settings (converted to their types) to apply, so a bad request
    changes nothing. Raises ValueError or TypeError naming the bad setting.
    """
    knob_names = {f.name for f in fields(Knobs)}
    settable = {f.name for f in fields(BillectaSandboxConfig)} - {"knobs", "request_log_size"}
    if not isinstance(values.get("knobs") or {}, dict):
        raise ValueError("knobs must be an object")
    knob_values = dict(values.get("knobs") or {})
    other: dict[str, Any] = {}
    for key in [k for k in knob_values if k in KNOB_LIKE_SETTINGS]:
        other[key] = knob_values.pop(key)  # settings that act like knobs may also be sent among the knobs
    for key, value in values.items():
        if key == "knobs":
            continue
        if key in knob_names:
            knob_values[key] = value  # knobs may also be given at the top level
        elif key in settable:
            other[key] = value
        else:
            raise ValueError(f"unknown setting {key!r}; known: {sorted(settable | knob_names | {'knobs'})}")
    trial_knobs = replace(config.knobs)
    trial_knobs.update(knob_values)
    trial = replace(config, knobs=trial_knobs, **other)
    if "webhook_headers" in other and not isinstance(other["webhook_headers"], dict):
        raise ValueError("webhook_headers must be an object")
    if "accepted_authorizations" in other and not (
        isinstance(trial.accepted_authorizations, list)
        and all(isinstance(a, str) for a in trial.accepted_authorizations)
    ):
        raise ValueError("accepted_authorizations must be a list of strings")
    for name in ("auto_send_delay_s", "webhook_backoff_s", "webhook_backoff_max_s", "webhook_timeout_s",
                 "swish_delay_s", "stall_after_s"):
        setattr(trial, name, float(getattr(trial, name)))
    trial.webhook_max_attempts = int(trial.webhook_max_attempts)
    trial.validate_responses = bool(trial.validate_responses)
    if trial.webhook_url is not None and not isinstance(trial.webhook_url, str):
        raise ValueError("webhook_url must be a string or null")
    check_config(trial)
    return knob_values, {name: getattr(trial, name) for name in other}
