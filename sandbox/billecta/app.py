"""HTTP face of the Billecta sandbox: a stateful fake of Billecta's REST API v1.

The routes follow the research notes (docs: billecta-api.md), not our own client, so a client that
drifts from Billecta shows up as a failing test. Every request body is checked against its view model
(``contract``) before anything changes, and every answer is checked against its view model too (a
sandbox bug then surfaces as a 500 instead of a silently wrong fake).

Webhooks: Billecta's webhook body is NOT publicly documented (nothing in the notes' sources shows
one). The bodies sent here are invented, in one of two styles, so that the service is forced to
parse defensively and re-read the entity through the API:

* ``flat`` (default)::

    {"WebhookTriggerType": "InvoiceActionAttested", "CreditorPublicId": "...",
     "ActionPublicId": "...", "Created": "2024-05-01T12:00:00+02:00", "EventId": "<uuid>"}

  with ``DebtorPublicId`` / ``ProductPublicId`` instead of ``ActionPublicId`` for those entities.
* ``nested``::

    {"Type": "InvoiceActionAttested", "Timestamp": "...", "EventId": "<uuid>",
     "Data": {"CreditorPublicId": "...", "ActionPublicId": "..."}}

A re-sent delivery carries the same body, hence the same EventId. Each delivery is a POST with
``Content-Type: application/json`` plus the configured static headers (Billecta's only documented
receiver-authentication mechanism).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import timedelta
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from sandbox.billecta import contract, outbound, payments
from sandbox.billecta.state import BillectaError, BillectaState, iso, now
from sandbox.common import FaultInjector, Knobs, WebhookSender

log = logging.getLogger(__name__)

DEFAULT_AUTHORIZATION = "SecureToken ZGV2LWJpbGxlY3RhLXRva2Vu"  # base64("dev-billecta-token")
DEFAULT_WEBHOOK_TRIGGERS: tuple[str, ...] = (
    "InvoiceActionCreated",
    "InvoiceActionAttested",
    "InvoiceActionStateChanged",
    "DebtorCreated",
    "DebtorUpdated",
    *payments.MONEY_TRIGGERS,
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
PAYLOAD_STYLES = ("flat", "nested")
ENV_PREFIX = "BILLECTA_SANDBOX_"
MAX_LOGGED_BODY = 64 * 1024


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
        WEBHOOK_TIMEOUT_S, VALIDATE_RESPONSES, REQUEST_LOG_SIZE, and one per knob: LATENCY_MS,
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
        ):
            if (value := get(name.upper())) is not None:
                setattr(config, name, kind(value))
        if (value := get("VALIDATE_RESPONSES")) is not None:
            config.validate_responses = value.strip().lower() in ("1", "true", "yes", "on")
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
    if config.webhook_payload_style not in PAYLOAD_STYLES:
        raise ValueError(f"webhook_payload_style must be one of {PAYLOAD_STYLES}")
    unknown = sorted(set(config.webhook_triggers) - set(SUPPORTED_WEBHOOK_TRIGGERS))
    if unknown:
        raise ValueError(f"unsupported webhook triggers {unknown}; supported: {list(SUPPORTED_WEBHOOK_TRIGGERS)}")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in config.webhook_headers.items()):
        raise ValueError("webhook_headers must map header names to string values")
    if config.webhook_max_attempts < 1:
        raise ValueError("webhook_max_attempts must be at least 1")


Reply = tuple[int, Any]  # HTTP status, JSON-able body (None = empty body)


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    rule: str
    handler: str  # method name on BillectaSandbox
    request_view: str | None
    response_view: str | None
    status: str  # notes' marker: V verified, P partly verified, U uncertain
    source: str


# The one route table. Status codes: Billecta's own codes for success are not documented; creates
# answer 201 with a CreatedView, everything else 200 (empty body where the notes say "empty").
ROUTES: tuple[Route, ...] = (
    Route("api_authenticate", "POST", "/v1/authentication/apiauthenticate", "api_authenticate",
          None, "SecureTokenView", "V", "notes 1.2"),
    # creditors
    Route("create_creditor", "POST", "/v1/creditors/creditor", "create_creditor",
          "CreditorView", "CreatedView", "V", "notes 2.1 (S1)"),
    Route("update_creditor", "PUT", "/v1/creditors/creditor", "update_creditor",
          "CreditorView", None, "V", "notes 2.1 (S1)"),
    Route("get_creditor", "GET", "/v1/creditors/creditor/<creditor_id>", "get_creditor",
          None, "CreditorView", "V", "notes 2.1 (S1)"),
    Route("list_creditors", "GET", "/v1/creditors/creditors", "list_creditors",
          None, "CreditorsView", "V", "notes 2.1 (S4, S9); paging params P"),
    Route("delete_creditor", "DELETE", "/v1/creditors/creditor/<creditor_id>", "delete_creditor",
          None, None, "V", "notes 2.1 (S1)"),
    # debtors
    Route("create_debtor", "POST", "/v1/debtors/debtor", "create_debtor",
          "DebtorView", "CreatedView", "V", "notes 2.2 (S4, S5, S9)"),
    Route("update_debtor", "PUT", "/v1/debtors/debtor", "update_debtor",
          "DebtorView", None, "V", "notes 2.2 (S4)"),
    Route("get_debtor", "GET", "/v1/debtors/debtor/<debtor_id>", "get_debtor",
          None, "DebtorView", "V", "notes 2.2 (S4, S1)"),
    Route("debtor_by_external_id", "GET", "/v1/debtors/debtorbyexternalid/<creditor_id>", "debtor_by_external_id",
          None, "DebtorView", "V", "notes 2.2 (S4); 400 when ambiguous"),
    Route("list_debtors", "GET", "/v1/debtors/debtors/<creditor_id>", "list_debtors",
          None, "DebtorsView", "V", "notes 2.2 (S4)"),
    Route("delete_debtor", "DELETE", "/v1/debtors/debtor/<debtor_id>", "delete_debtor",
          None, None, "V", "notes 2.2 (S4)"),
    # products
    Route("create_product", "POST", "/v1/products/product", "create_product",
          "ProductView", "CreatedView", "V", "notes 2.3 (S1, S4)"),
    Route("update_product", "PUT", "/v1/products/product", "update_product",
          "ProductView", None, "V", "notes 2.3 (S1, S4)"),
    Route("get_product", "GET", "/v1/products/product/<product_id>", "get_product",
          None, "ProductView", "V", "notes 2.3 (S1)"),
    Route("product_by_external_id", "GET", "/v1/products/productbyexternalid/<creditor_id>",
          "product_by_external_id", None, "ProductView", "V", "notes 2.3 (S4); 400 when ambiguous"),
    Route("list_products", "GET", "/v1/products/products/<creditor_id>", "list_products",
          None, "ProductsView", "V", "notes 2.3 (S4)"),
    Route("delete_product", "DELETE", "/v1/products/product/<product_id>", "delete_product",
          None, None, "V", "notes 2.3 (S4); refused while used on an invoice"),
    # invoices
    Route("create_invoice", "POST", "/v1/invoice/action", "create_invoice",
          "InvoiceActionEntryView", "CreatedView", "V", "notes 2.4 (S4)"),
    Route("update_invoice", "PUT", "/v1/invoice/action/<action_id>", "update_invoice",
          "InvoiceActionEntryView", None, "V", "notes 2.4 (S4 only)"),
    Route("get_invoice", "GET", "/v1/invoice/action/<action_id>", "get_invoice",
          None, "InvoiceActionView", "V", "notes 2.4 (S4, S1)"),
    Route("delete_invoice", "DELETE", "/v1/invoice/action/<action_id>", "delete_invoice",
          None, None, "U", "notes 2.4: path guessed by analogy; only unattested"),
    Route("attest_invoice", "PUT", "/v1/invoice/attest/<action_id>", "attest_invoice",
          None, None, "V", "notes 2.4 (S2, S4, S9); empty body, empty answer"),
    Route("open_invoices", "GET", "/v1/invoice/open/<creditor_id>", "open_invoices",
          None, "InvoiceActionSubsView", "V", "notes 2.4 (S4)"),
    Route("open_invoices_by_debtor", "GET", "/v1/invoice/openbydebtor/<debtor_id>", "open_invoices_by_debtor",
          None, "InvoiceActionSubsView", "V", "notes 2.4 (S4)"),
    Route("closed_invoices", "GET", "/v1/invoice/closed/<creditor_id>", "closed_invoices",
          None, "InvoiceActionSubsView", "V", "notes 2.4 (S4); ?from=&to="),
    Route("closed_invoices_by_debtor", "GET", "/v1/invoice/closedbydebtor/<debtor_id>", "closed_invoices_by_debtor",
          None, "InvoiceActionSubsView", "V", "notes 2.4 (S4); ?from=&to="),
    Route("anonymize_debtor", "PUT", "/v1/debtors/anonymize/<debtor_id>", "anonymize_debtor",
          None, None, "U", "notes 2.2: no source names a GDPR call; placeholder path (sandbox/billecta/outbound.py)"),
    Route("get_default_action_config", "GET", "/v1/creditors/defaultactionconfig/<creditor_id>",
          "get_default_action_config", None, "DefaultActionConfigView", "P", "notes 2.1: view known, path guessed"),
    Route("update_default_action_config", "PUT", "/v1/creditors/defaultactionconfig",
          "update_default_action_config", "DefaultActionConfigView", None, "P", "notes 2.1: view known, path guessed"),
)
ROUTES_BY_NAME: dict[str, Route] = {r.name: r for r in ROUTES}


def error_body(message: str, code: str | None = None) -> dict[str, Any]:
    return {"Message": message, "ExternalErrorCode": code}


def error_response(status: int, message: str, code: str | None = None) -> Response:
    resp = jsonify(error_body(message, code))
    resp.status_code = status
    return resp


def _query(name: str) -> str | None:
    # ASP.NET binds query parameters case-insensitively.
    for key, value in request.args.items():
        if key.lower() == name.lower():
            return value
    return None


def _page(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    try:
        offset = int(_query("offset") or 0)
        limit = int(_query("limit") or 0)
    except ValueError as exc:
        raise BillectaError(400, "offset and limit must be integers") from exc
    items = items[max(offset, 0):]
    return items[:limit] if limit > 0 else items


def _query_day(name: str) -> Any:
    value = _query(name)
    if value is None:
        return None
    parsed = contract.parse_datetime(value)
    if parsed is None:
        raise BillectaError(400, f"{name} is not a valid date: {value!r}")
    return parsed.date()


class RequestLog:
    """Bounded ring buffer of the API requests received, plus counters for ``/_sandbox/stats``."""

    def __init__(self, size: int) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=size)
        self.by_route: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append(entry)
            self.by_route[f"{entry['method']} {entry['route'] or 'unmatched'}"] += 1
            self.by_status[str(entry["status"])] += 1

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def counters(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {"by_route": dict(self.by_route), "by_status": dict(self.by_status)}

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.by_route.clear()
            self.by_status.clear()


class BillectaSandbox:
    """Owns the state, webhook sender, fault injector and request log behind one Flask app."""

    def __init__(self, config: BillectaSandboxConfig) -> None:
        check_config(config)
        self.config = config
        self.state = BillectaState(emit=self._on_event, auto_send_delay_s=config.auto_send_delay_s)
        self.sender = WebhookSender(
            max_attempts=config.webhook_max_attempts,
            backoff_s=config.webhook_backoff_s,
            backoff_max_s=config.webhook_backoff_max_s,
            timeout_s=config.webhook_timeout_s,
            name="billecta-webhooks",
        )
        self.faults = FaultInjector(config.knobs, "/v1/", error_body)
        self.requests = RequestLog(config.request_log_size)
        self.app = self._build_app()

    # ---- app wiring ----------------------------------------------------------------------------

    def _build_app(self) -> Flask:
        app = Flask("billecta_sandbox")
        app.json.sort_keys = False  # type: ignore[attr-defined]  # keep Billecta-like field order
        app.extensions["billecta_sandbox"] = self
        self.faults.install(app)  # network-level faults come before authentication
        app.before_request(self._check_auth)
        app.after_request(self._log_request)
        for route in ROUTES:
            app.add_url_rule(route.rule, endpoint=route.name, view_func=self._view(route), methods=[route.method])
        self._add_admin_routes(app)
        payments.install(self, app)  # payments, credits, debt collection... (sandbox/billecta/payments.py)
        app.register_error_handler(HTTPException, self._http_error)
        app.register_error_handler(Exception, self._unexpected_error)
        return app

    def _view(self, route: Route) -> Callable[..., Response]:
        def view(**params: str) -> Response:
            return self._dispatch(route, params)

        view.__name__ = route.name
        return view

    def _check_auth(self) -> Response | None:
        if not request.path.startswith("/v1/"):
            return None
        if request.headers.get("Authorization", "") in self.config.accepted_authorizations:
            return None
        return error_response(
            401, "Authorization failed: send 'Authorization: SecureToken <base64 token>' or 'Basic <base64 user:pass>'"
        )

    def _log_request(self, response: Response) -> Response:
        if request.path.startswith("/v1/"):
            endpoint = request.url_rule.endpoint if request.url_rule is not None else None
            route = ROUTES_BY_NAME.get(endpoint or "")
            raw = request.get_data(cache=True)
            body: Any
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError:
                body = raw[:MAX_LOGGED_BODY].decode("utf-8", "replace")
            self.requests.add(
                {
                    "time": time.time(),
                    "method": request.method,
                    "path": request.path,
                    "query": request.query_string.decode("latin-1"),
                    "route": route.name if route else None,
                    "view": route.request_view if route else None,
                    "body": body,
                    "status": response.status_code,
                }
            )
        return response

    def _http_error(self, exc: HTTPException) -> Response:
        code = exc.code or 500
        if code == 404:
            return error_response(404, f"No resource matches {request.method} {request.path}")
        if code == 405:
            return error_response(405, f"Method {request.method} is not allowed on {request.path}")
        return error_response(code, exc.description or exc.name)

    def _unexpected_error(self, exc: Exception) -> Response:
        log.exception("billecta sandbox failed on %s %s", request.method, request.path)
        return error_response(500, f"Sandbox error: {type(exc).__name__}: {exc}")

    def _dispatch(self, route: Route, params: dict[str, str]) -> Response:
        body: Any = None
        if route.request_view is not None:
            raw = request.get_data(cache=True)
            if not raw.strip():
                return error_response(400, f"A request body ({route.request_view}) is required")
            try:
                body = json.loads(raw)
            except ValueError as exc:
                return error_response(400, f"The request body is not valid JSON: {exc}")
            problems = contract.validate(route.request_view, body)
            if problems:
                shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
                return error_response(400, f"The request is invalid ({route.request_view}): {shown}")
            body = contract.to_enum_names(route.request_view, body)
        try:
            status, payload = getattr(self, route.handler)(body, **params)
        except BillectaError as exc:
            return error_response(exc.status, exc.message, exc.code)
        if payload is None:
            return Response(status=status)
        if route.response_view is not None and self.config.validate_responses:
            problems = contract.validate(route.response_view, payload)
            if problems:
                log.error("sandbox answer breaks %s: %s", route.response_view, problems)
                return error_response(
                    500, f"Sandbox bug: its {route.response_view} answer breaks the contract: {'; '.join(problems[:5])}"
                )
        resp = jsonify(payload)
        resp.status_code = status
        return resp

    # ---- webhooks ------------------------------------------------------------------------------

    def _on_event(self, trigger: str, ids: dict[str, str]) -> None:
        config = self.config
        url = config.webhook_url
        if not url or trigger not in config.webhook_triggers:
            return
        event_id = str(uuid.uuid4())
        stamp = iso(now())
        payload: dict[str, Any]
        if config.webhook_payload_style == "nested":
            payload = {"Type": trigger, "Timestamp": stamp, "EventId": event_id, "Data": dict(ids)}
        else:
            payload = {"WebhookTriggerType": trigger, **ids, "Created": stamp, "EventId": event_id}
        headers = {"Content-Type": "application/json", **config.webhook_headers}
        self.sender.send(url, json.dumps(payload).encode("utf-8"), headers, trigger)

    # ---- API handlers --------------------------------------------------------------------------

    def api_authenticate(self, _body: None) -> Reply:
        header = request.headers.get("Authorization", "")
        tokens = [a for a in self.config.accepted_authorizations if a.startswith("SecureToken ")]
        if header.startswith("SecureToken "):
            tokens = [header]
        if not tokens:
            raise BillectaError(400, "The sandbox has no SecureToken configured to hand out")
        try:
            token = base64.b64decode(tokens[0].removeprefix("SecureToken ").strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise BillectaError(500, "Configured SecureToken is not valid base64") from exc
        return 200, {"Value": token, "Expires": iso(now() + timedelta(days=365))}

    def create_creditor(self, body: dict[str, Any]) -> Reply:
        return 201, {"PublicId": self.state.create_creditor(body)}

    def update_creditor(self, body: dict[str, Any]) -> Reply:
        self.state.update_creditor(body)
        return 200, None

    def get_creditor(self, _body: None, creditor_id: str) -> Reply:
        return 200, self.state.get_creditor(creditor_id)

    def list_creditors(self, _body: None) -> Reply:
        return 200, _page(self.state.list_creditors())

    def delete_creditor(self, _body: None, creditor_id: str) -> Reply:
        self.state.delete_creditor(creditor_id)
        return 200, None

    def create_debtor(self, body: dict[str, Any]) -> Reply:
        return 201, {"PublicId": self.state.create_debtor(body)}

    def update_debtor(self, body: dict[str, Any]) -> Reply:
        self.state.update_debtor(body)
        return 200, None

    def get_debtor(self, _body: None, debtor_id: str) -> Reply:
        return 200, self.state.get_debtor(debtor_id)

    def debtor_by_external_id(self, _body: None, creditor_id: str) -> Reply:
        external_id = _query("externalid")
        if external_id is None:
            raise BillectaError(400, "The query parameter externalid is required")
        return 200, self.state.debtor_by_external_id(creditor_id, external_id)

    def list_debtors(self, _body: None, creditor_id: str) -> Reply:
        return 200, _page(self.state.list_debtors(creditor_id))

    def delete_debtor(self, _body: None, debtor_id: str) -> Reply:
        self.state.delete_debtor(debtor_id)
        return 200, None

    def create_product(self, body: dict[str, Any]) -> Reply:
        return 201, {"PublicId": self.state.create_product(body)}

    def update_product(self, body: dict[str, Any]) -> Reply:
        self.state.update_product(body)
        return 200, None

    def get_product(self, _body: None, product_id: str) -> Reply:
        return 200, self.state.get_product(product_id)

    def product_by_external_id(self, _body: None, creditor_id: str) -> Reply:
        external_id = _query("externalid")
        if external_id is None:
            raise BillectaError(400, "The query parameter externalid is required")
        return 200, self.state.product_by_external_id(creditor_id, external_id)

    def list_products(self, _body: None, creditor_id: str) -> Reply:
        return 200, _page(self.state.list_products(creditor_id))

    def delete_product(self, _body: None, product_id: str) -> Reply:
        self.state.delete_product(product_id)
        return 200, None

    def create_invoice(self, body: dict[str, Any]) -> Reply:
        return 201, {"PublicId": self.state.create_invoice(body)}

    def update_invoice(self, body: dict[str, Any], action_id: str) -> Reply:
        self.state.update_invoice(action_id, body)
        return 200, None

    def get_invoice(self, _body: None, action_id: str) -> Reply:
        return 200, self.state.invoice_view(action_id)

    def delete_invoice(self, _body: None, action_id: str) -> Reply:
        self.state.delete_invoice(action_id)
        return 200, None

    def attest_invoice(self, _body: None, action_id: str) -> Reply:
        self.state.auto_send_delay_s = self.config.auto_send_delay_s
        self.state.attest_invoice(action_id)
        return 200, None

    def open_invoices(self, _body: None, creditor_id: str) -> Reply:
        return 200, _page(self.state.open_invoices(creditor_id))

    def open_invoices_by_debtor(self, _body: None, debtor_id: str) -> Reply:
        return 200, _page(self.state.open_invoices_by_debtor(debtor_id))

    def closed_invoices(self, _body: None, creditor_id: str) -> Reply:
        rows = self.state.closed_invoices(
            creditor_public_id=creditor_id, start=_query_day("from"), end=_query_day("to")
        )
        return 200, _page(rows)

    def closed_invoices_by_debtor(self, _body: None, debtor_id: str) -> Reply:
        rows = self.state.closed_invoices(debtor_public_id=debtor_id, start=_query_day("from"), end=_query_day("to"))
        return 200, _page(rows)

    def anonymize_debtor(self, _body: None, debtor_id: str) -> Reply:
        outbound.anonymize_debtor(self.state, debtor_id)
        return 200, None

    def get_default_action_config(self, _body: None, creditor_id: str) -> Reply:
        return 200, outbound.get_default_action_config(self.state, creditor_id)

    def update_default_action_config(self, body: dict[str, Any]) -> Reply:
        outbound.update_default_action_config(self.state, body)
        return 200, None

    # ---- admin (/_sandbox, no auth) ------------------------------------------------------------

    def _add_admin_routes(self, app: Flask) -> None:
        def add(rule: str, name: str, func: Callable[..., Any], methods: list[str]) -> None:
            app.add_url_rule(rule, endpoint=f"sandbox_{name}", view_func=func, methods=methods)

        add("/_sandbox/health", "health", self.admin_health, ["GET"])
        add("/_sandbox/reset", "reset", self.admin_reset, ["POST"])
        add("/_sandbox/config", "config", self.admin_config, ["GET", "POST"])
        add("/_sandbox/routes", "routes", self.admin_routes, ["GET"])
        add("/_sandbox/webhooks", "webhooks", self.admin_webhooks, ["GET"])
        add("/_sandbox/webhooks/wait-idle", "webhooks_wait_idle", self.admin_wait_idle, ["POST"])
        add("/_sandbox/webhooks/<int:delivery_id>/resend", "webhooks_resend", self.admin_resend, ["POST"])
        add("/_sandbox/requests", "requests", self.admin_requests, ["GET"])
        add("/_sandbox/stats", "stats", self.admin_stats, ["GET"])
        add("/_sandbox/state/invoices/<action_id>", "state_invoice", self.admin_state_invoice, ["GET"])
        add("/_sandbox/invoices/<action_id>/advance", "advance_invoice", self.admin_advance, ["POST"])

    def admin_health(self) -> Response:
        return jsonify({"status": "ok", "service": "billecta-sandbox", "entities": self.state.counts()})

    def admin_reset(self) -> Response:
        self.state.reset()
        self.sender.clear()
        self.requests.clear()
        # FaultInjector has no reset; swapping in a zeroed dict is atomic for its readers.
        self.faults.counters = dict.fromkeys(self.faults.counters, 0)
        self.faults.bucket.reset(self.config.knobs.rate_limit_per_s, self.config.knobs.rate_limit_burst)
        return jsonify({"reset": True})

    def admin_routes(self) -> Response:
        return jsonify([asdict(r) for r in ROUTES])

    def admin_config(self) -> Response:
        if request.method == "POST":
            values = request.get_json(force=True, silent=True)
            if not isinstance(values, dict):
                return error_response(400, "Send a JSON object of settings")
            try:
                self.apply_config(values)
            except (ValueError, TypeError) as exc:
                return error_response(400, str(exc))
        return jsonify(self.config.as_dict())

    def apply_config(self, values: Mapping[str, Any]) -> None:
        """Validate every setting first, then apply them all (so a bad request changes nothing)."""
        knob_names = {f.name for f in fields(Knobs)}
        settable = {f.name for f in fields(BillectaSandboxConfig)} - {"knobs", "request_log_size"}
        if not isinstance(values.get("knobs") or {}, dict):
            raise ValueError("knobs must be an object")
        knob_values = dict(values.get("knobs") or {})
        other: dict[str, Any] = {}
        for key, value in values.items():
            if key == "knobs":
                continue
            if key in knob_names:
                knob_values[key] = value  # knobs may also be given at the top level
            elif key in settable:
                other[key] = value
            else:
                raise ValueError(f"unknown setting {key!r}; known: {sorted(settable | knob_names | {'knobs'})}")
        trial_knobs = replace(self.config.knobs)
        trial_knobs.update(knob_values)
        trial = replace(self.config, knobs=trial_knobs, **other)
        if "webhook_headers" in other and not isinstance(other["webhook_headers"], dict):
            raise ValueError("webhook_headers must be an object")
        if "accepted_authorizations" in other and not (
            isinstance(trial.accepted_authorizations, list)
            and all(isinstance(a, str) for a in trial.accepted_authorizations)
        ):
            raise ValueError("accepted_authorizations must be a list of strings")
        for name in ("auto_send_delay_s", "webhook_backoff_s", "webhook_backoff_max_s", "webhook_timeout_s"):
            setattr(trial, name, float(getattr(trial, name)))
        trial.webhook_max_attempts = int(trial.webhook_max_attempts)
        trial.validate_responses = bool(trial.validate_responses)
        if trial.webhook_url is not None and not isinstance(trial.webhook_url, str):
            raise ValueError("webhook_url must be a string or null")
        check_config(trial)
        # Apply: the Knobs object is shared with the FaultInjector, so update it in place.
        self.config.knobs.update(knob_values)
        for name in other:
            setattr(self.config, name, getattr(trial, name))
        self.state.auto_send_delay_s = self.config.auto_send_delay_s
        self.sender.max_attempts = self.config.webhook_max_attempts
        self.sender.backoff_s = self.config.webhook_backoff_s
        self.sender.backoff_max_s = self.config.webhook_backoff_max_s
        self.sender.timeout_s = self.config.webhook_timeout_s
        if {"rate_limit_per_s", "rate_limit_burst"} & set(knob_values):
            self.faults.bucket.reset(self.config.knobs.rate_limit_per_s, self.config.knobs.rate_limit_burst)

    @staticmethod
    def _delivery_summary(delivery: Any) -> dict[str, Any]:
        summary = delivery.summary()
        summary["headers"] = dict(delivery.headers)
        try:
            summary["payload"] = json.loads(delivery.body)
        except ValueError:
            summary["payload"] = None
        return summary

    def admin_webhooks(self) -> Response:
        status = request.args.get("status") or None
        event = request.args.get("event") or None
        deliveries = [
            self._delivery_summary(d)
            for d in self.sender.deliveries(status=status)
            if event is None or d.event == event
        ]
        return jsonify({"deliveries": deliveries, "pending": self.sender.pending_count()})

    def admin_resend(self, delivery_id: int) -> Response:
        delivery = self.sender.resend(delivery_id)
        if delivery is None:
            return error_response(404, f"No webhook delivery {delivery_id}")
        return jsonify(self._delivery_summary(delivery))

    def admin_wait_idle(self) -> Response:
        """Wait until no automatic state change is scheduled and every delivery has settled."""
        try:
            timeout = float(request.args.get("timeout", "10"))
        except ValueError:
            return error_response(400, "timeout must be a number of seconds")
        deadline = time.monotonic() + timeout
        idle = False
        while True:
            remaining = deadline - time.monotonic()
            # Checked twice: a scheduled change may fire and queue a delivery while we wait.
            if (
                self.state.scheduled_count() == 0
                and self.sender.wait_idle(max(remaining, 0.0))
                and self.state.scheduled_count() == 0
                and self.sender.wait_idle(0.05)
            ):
                idle = True
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        body = {
            "idle": idle,
            "scheduled": self.state.scheduled_count(),
            "pending": sum(1 for d in self.sender.deliveries() if d.status == "pending"),
        }
        resp = jsonify(body)
        resp.status_code = 200 if idle else 504
        return resp

    def admin_requests(self) -> Response:
        entries = self.requests.entries()
        route = request.args.get("route")
        method = request.args.get("method")
        if route:
            entries = [e for e in entries if e["route"] == route]
        if method:
            entries = [e for e in entries if e["method"] == method.upper()]
        try:
            limit = int(request.args.get("limit", "0"))
        except ValueError:
            return error_response(400, "limit must be an integer")
        if limit > 0:
            entries = entries[-limit:]
        return jsonify({"requests": entries})

    def admin_stats(self) -> Response:
        counters = self.requests.counters()
        deliveries = Counter(d.status for d in self.sender.deliveries())
        return jsonify(
            {
                "requests_by_route": counters["by_route"],
                "responses_by_status": counters["by_status"],
                "faults": self.faults.snapshot(),
                "webhooks": {s: deliveries.get(s, 0) for s in ("pending", "delivered", "failed")},
                "entities": self.state.counts(),
            }
        )

    def admin_state_invoice(self, action_id: str) -> Response:
        try:
            return jsonify(self.state.raw_invoice(action_id))
        except BillectaError as exc:
            return error_response(exc.status, exc.message)

    def admin_advance(self, action_id: str) -> Response:
        values = request.get_json(force=True, silent=True)
        stage = values.get("stage") if isinstance(values, dict) else None
        if not isinstance(stage, str):
            return error_response(400, 'Send {"stage": "<InvoiceActionStageType name>"}')
        try:
            self.state.auto_send_delay_s = self.config.auto_send_delay_s
            self.state.advance_invoice(action_id, stage)
            return jsonify(self.state.raw_invoice(action_id))
        except BillectaError as exc:
            return error_response(exc.status, exc.message)


def create_app(config: BillectaSandboxConfig | None = None) -> Flask:
    """A fresh sandbox (its own state and webhook sender); the sandbox object is in
    ``app.extensions["billecta_sandbox"]``."""
    return BillectaSandbox(config or BillectaSandboxConfig()).app
