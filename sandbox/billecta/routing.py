"""Routes of the Billecta sandbox and their one generic dispatch.

Every ``/v1`` request body is checked against its view model (``contract``) before a handler runs, and
every answer is checked against its view model too (a sandbox bug then surfaces as a 500 instead of a
silently wrong fake). Refusals are answered in Billecta's style, ``{"Message", "ExternalErrorCode"}``.
Also here: the query-string helpers the handlers share, and the wrapper of the admin endpoints that make
Billecta's own processes happen.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Response, jsonify, request

from sandbox.billecta import contract
from sandbox.billecta.state.core import BillectaError

log = logging.getLogger(__name__)

Reply = tuple[int, Any]  # HTTP status, JSON-able body (None = empty body) or a ready Response (raw bytes)
Handler = Callable[..., Reply]  # handler(body, **path parameters); body is None for routes without one


@dataclass(frozen=True)
class Route:
    """One ``/v1`` route: what it reads and answers, and how sure the notes are of it."""

    name: str
    method: str
    rule: str
    handler: Handler
    request_view: str | None
    response_view: str | None
    status: str  # notes' marker: V verified, P partly verified, U uncertain
    source: str
    # Listed by ``GET /_sandbox/routes``. The routes of the money after attest never were; kept so.
    listed: bool = True
    # The client's names for this route (``billecta_sync/billecta/routes.py``); knobs naming routes accept them.
    client_names: tuple[str, ...] = ()

    def answers_to(self, names: Iterable[str]) -> bool:
        """Whether ``names`` names this route (by the sandbox's name or one of the client's)."""
        wanted = set(names)
        return self.name in wanted or not wanted.isdisjoint(self.client_names)

    def listing(self) -> dict[str, Any]:
        # "handler" has always been the route's name.
        return {
            "name": self.name,
            "method": self.method,
            "rule": self.rule,
            "handler": self.name,
            "request_view": self.request_view,
            "response_view": self.response_view,
            "status": self.status,
            "source": self.source,
        }


def error_body(message: str, code: str | None = None) -> dict[str, Any]:
    return {"Message": message, "ExternalErrorCode": code}


def error_response(status: int, message: str, code: str | None = None) -> Response:
    resp = jsonify(error_body(message, code))
    resp.status_code = status
    return resp


def query(name: str) -> str | None:
    # ASP.NET binds query parameters case-insensitively.
    for key, value in request.args.items():
        if key.lower() == name.lower():
            return value
    return None


def required_query(name: str) -> str:
    value = query(name)
    if value is None:
        raise BillectaError(400, f"The query parameter {name} is required")
    return value


def page(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``?offset=&limit=`` applied to a list answer."""
    try:
        offset = int(query("offset") or 0)
        limit = int(query("limit") or 0)
    except ValueError as exc:
        raise BillectaError(400, "offset and limit must be integers") from exc
    items = items[max(offset, 0):]
    return items[:limit] if limit > 0 else items


def query_bool(name: str, default: bool = False) -> bool:
    """A ``true``/``false`` query parameter (.NET binds them case-insensitively); anything else is a 400."""
    value = query(name)
    if value is None or value == "":
        return default
    if value.lower() not in ("true", "false"):
        raise BillectaError(400, f"The query parameter {name} must be true or false, not {value!r}")
    return value.lower() == "true"


def query_day(name: str) -> Any:
    value = query(name)
    if value is None:
        return None
    parsed = contract.parse_datetime(value)
    if parsed is None:
        raise BillectaError(400, f"{name} is not a valid date: {value!r}")
    return parsed.date()


def dispatch(route: Route, params: dict[str, str], validate_responses: bool) -> Response:
    """Answer one ``/v1`` request with ``route``: check the body, run the handler, check the answer."""
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
        status, payload = route.handler(body, **params)
    except BillectaError as exc:
        return error_response(exc.status, exc.message, exc.code)
    if payload is None:
        return Response(status=status)
    if isinstance(payload, Response):
        return payload  # raw bytes, e.g. a file: no view model describes them
    if route.response_view is not None and validate_responses:
        problems = contract.validate(route.response_view, payload)
        if problems:
            log.error("sandbox answer breaks %s: %s", route.response_view, problems)
            return error_response(
                500, f"Sandbox bug: its {route.response_view} answer breaks the contract: {'; '.join(problems[:5])}"
            )
    resp = jsonify(payload)
    resp.status_code = status
    return resp


def json_action(func: Callable[..., Any], with_body: bool = True) -> Callable[..., Response]:
    """An admin view around ``func(**path params[, body=...])``: a JSON object in (absent = ``{}``), its
    result as JSON out, refusals as Billecta-style errors."""

    def view(**params: str) -> Response:
        body = request.get_json(force=True, silent=True) if with_body else None
        if with_body and body is None:
            body = {}
        if with_body and not isinstance(body, dict):
            return error_response(400, "Send a JSON object")
        try:
            result = func(**params, body=body) if with_body else func(**params)
        except BillectaError as exc:
            return error_response(exc.status, exc.message)
        except KeyError as exc:
            return error_response(400, f"missing {exc}")
        return jsonify(result)

    return view
