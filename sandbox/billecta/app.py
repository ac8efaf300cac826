"""HTTP face of the Billecta sandbox: a stateful fake of Billecta's REST API v1.

The routes follow the research notes (docs: billecta-api.md), not our own client, so a client that
drifts from Billecta shows up as a failing test. The sandbox is composed here: ``BillectaSandbox`` owns
the store, the webhook sender, the fault knobs and the request log, and calls each extension of
``EXTENSIONS`` (``sandbox/billecta/extensions/``) to add its piece of state and its routes. What every
request shares stays here: fault injection, authentication of ``/v1``, the request log and JSON errors.
Webhook bodies are described in ``sandbox.billecta.outbox``.

The configuration names are re-exported from ``sandbox.billecta.config`` for the code that imports them
from here.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from sandbox.billecta.config import (
    DEFAULT_AUTHORIZATION,
    DEFAULT_WEBHOOK_TRIGGERS,
    ENV_PREFIX,
    MONEY_TRIGGERS,
    PAYLOAD_STYLES,
    SUPPORTED_WEBHOOK_TRIGGERS,
    BillectaSandboxConfig,
    check_config,
    parse_headers,
)
from sandbox.billecta.extension import Extension
from sandbox.billecta.extensions import (
    admin,
    analysis,
    auth,
    autogiro,
    debtcollection,
    files,
    invoices,
    masterdata,
    money,
    outbound,
    payments,
    reminders,
    webhooks,
)
from sandbox.billecta.outbox import WebhookOutbox
from sandbox.billecta.requestlog import RequestLog
from sandbox.billecta.routing import Route, dispatch, error_body, error_response
from sandbox.billecta.state.core import Store
from sandbox.common import FaultInjector, WebhookSender

__all__ = [
    "DEFAULT_AUTHORIZATION",
    "DEFAULT_WEBHOOK_TRIGGERS",
    "ENV_PREFIX",
    "EXTENSIONS",
    "MONEY_TRIGGERS",
    "PAYLOAD_STYLES",
    "SUPPORTED_WEBHOOK_TRIGGERS",
    "BillectaSandbox",
    "BillectaSandboxConfig",
    "check_config",
    "create_app",
    "parse_headers",
]

log = logging.getLogger(__name__)

MAX_LOGGED_BODY = 64 * 1024

# In registration order, which matters twice: an extension finds in the store only the parts of those before
# it, and ``GET /_sandbox/routes`` lists the routes in this order.
EXTENSIONS: tuple[Extension, ...] = (
    auth.register,
    masterdata.register,
    invoices.register,
    files.register,
    outbound.register,
    payments.register,
    money.register,
    analysis.register,
    reminders.register,
    debtcollection.register,
    autogiro.register,
    webhooks.register,
    admin.register,
)


class BillectaSandbox:
    """Owns the store, webhook sender, fault injector and request log behind one Flask app, and is the
    ``Host`` the extensions register with."""

    def __init__(self, config: BillectaSandboxConfig, extensions: Sequence[Extension] = EXTENSIONS) -> None:
        check_config(config)
        self.config = config
        self.sender = WebhookSender(
            max_attempts=config.webhook_max_attempts,
            backoff_s=config.webhook_backoff_s,
            backoff_max_s=config.webhook_backoff_max_s,
            timeout_s=config.webhook_timeout_s,
            name="billecta-webhooks",
        )
        self.outbox = WebhookOutbox(config, self.sender)
        self.store = Store(emit=self._on_event)
        self.store.add(self.outbox)  # a reset also forgets which deliveries were retriggered
        self.faults = FaultInjector(config.knobs, "/v1/", error_body)
        self.requests = RequestLog(config.request_log_size)
        self._routes: dict[str, Route] = {}
        self.app = Flask("billecta_sandbox")
        self._build_app(extensions)

    # ---- the Host API --------------------------------------------------------------------------------

    def add_routes(self, *routes: Route) -> None:
        for route in routes:
            if route.name in self._routes:
                raise ValueError(f"route {route.name!r} is added twice")
            self._routes[route.name] = route
            self.app.add_url_rule(route.rule, endpoint=route.name, view_func=self._view(route), methods=[route.method])

    def add_admin(
        self, rule: str, name: str, view: Callable[..., Response], methods: Sequence[str] = ("POST",)
    ) -> None:
        self.app.add_url_rule(rule, endpoint=f"sandbox_{name}", view_func=view, methods=list(methods))

    def routes(self) -> list[Route]:
        return list(self._routes.values())

    # ---- app wiring ----------------------------------------------------------------------------------

    def _build_app(self, extensions: Sequence[Extension]) -> None:
        app = self.app
        app.json.sort_keys = False  # type: ignore[attr-defined]  # keep Billecta-like field order
        app.extensions["billecta_sandbox"] = self
        self.faults.install(app)  # network-level faults come before authentication
        app.before_request(self._check_auth)
        app.after_request(self._stall_after)  # after_request hooks run last-added first: this one after the log
        app.after_request(self._log_request)
        for register in extensions:
            register(self)
        app.register_error_handler(HTTPException, self._http_error)
        app.register_error_handler(Exception, self._unexpected_error)

    def _view(self, route: Route) -> Callable[..., Response]:
        def view(**params: str) -> Response:
            response = dispatch(route, params, self.config.validate_responses)
            if self.config.stall_after_s > 0 and route.answers_to(self.config.stall_after_routes):
                g.stall_after_s = self.config.stall_after_s  # ``_stall_after`` sleeps once the request is logged
            return response

        view.__name__ = route.name
        return view

    def _on_event(self, trigger: str, ids: dict[str, str], context: Mapping[str, Any] | None = None) -> None:
        self.outbox.send(trigger, ids, context)

    def _check_auth(self) -> Response | None:
        if not request.path.startswith("/v1/"):
            return None
        if request.headers.get("Authorization", "") in self.config.accepted_authorizations:
            return None
        return error_response(
            401, "Authorization failed: send 'Authorization: SecureToken <base64 token>' or 'Basic <base64 user:pass>'"
        )

    def _stall_after(self, response: Response) -> Response:
        """``stall_after_routes``: the change is made and logged (the lock released); only the answer is late,
        so the client times out on a call Billecta applied."""
        stall_s = g.pop("stall_after_s", None)
        if stall_s:
            time.sleep(stall_s)
        return response

    def _log_request(self, response: Response) -> Response:
        if request.path.startswith("/v1/"):
            endpoint = request.url_rule.endpoint if request.url_rule is not None else None
            route = self._routes.get(endpoint or "")
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


def create_app(config: BillectaSandboxConfig | None = None) -> Flask:
    """A fresh sandbox (its own state and webhook sender); the sandbox object is in
    ``app.extensions["billecta_sandbox"]``."""
    return BillectaSandbox(config or BillectaSandboxConfig()).app
