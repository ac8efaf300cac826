"""HTTP client for Billecta's REST API v1.

All calls go through ``BillectaClient.call`` with a route name from ``routes.py``, so no method or path
is spelled anywhere else. Transient failures (network, timeouts, 5xx, 429) are retried by tenacity;
everything else surfaces at once as a typed exception from ``errors.py``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from urllib.parse import urlencode

import requests

from billecta_sync import metrics
from billecta_sync.billecta.errors import (
    BillectaApiConnectionError,
    BillectaApiNotFoundException,
    BillectaApiRateLimitedException,
    BillectaApiRequestException,
    error_from_response,
    retryable,
)
from billecta_sync.billecta.routes import Route, get_route
from billecta_sync.billecta.values import format_date, format_datetime
from billecta_sync.httpretry import retrying
from billecta_sync.httpsessions import ThreadSessions
from billecta_sync.ratelimit import RateLimiter
from billecta_sync.settings import BillectaSettings, InvalidBillectaApiConfig

__all__ = ["BillectaClient", "OnRequest"]

log = logging.getLogger(__name__)

# (method, route name, full URL, body) - called before every HTTP attempt.
OnRequest = Callable[[str, str, str, object], None]


def _json_default(value: object) -> object:
    if isinstance(value, Enum):
        return value.name  # Billecta exchanges enum names
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return format_date(value)
    raise TypeError(f"cannot send {type(value).__name__} to Billecta")


def _query_value(value: object) -> object:
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _list_of(data: Any) -> list[dict[str, Any]]:
    """Rows of a list answer: Billecta's list views are arrays, some wrapped with paging fields."""
    if data is None:
        return []
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for value in data.values():
            if isinstance(value, list):
                return value
        return []
    raise BillectaApiRequestException(f"expected a list from Billecta, got {type(data).__name__}")


class BillectaClient:
    """One keep-alive session to Billecta; safe to share between threads of one worker."""

    # First backoff step; instances may lower it (tests do) without touching the settings.
    backoff_initial_s: float = 0.5

    def __init__(
        self,
        settings: BillectaSettings,
        session: requests.Session | None = None,
        on_request: OnRequest | None = None,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        auth = settings.authentication.get() if settings.authentication is not None else ""
        if not settings.base_url or not auth:
            raise InvalidBillectaApiConfig("Billecta base URL and Authorization value are required")
        self.settings = settings
        self._base_url = settings.base_url.rstrip("/")
        # A session per thread (billecta_sync.httpsessions): a thread-pool worker shares this client.
        self._sessions = ThreadSessions(session)
        self._on_request = on_request
        self._rate_limiter = rate_limiter
        # Sent per request rather than set on the session, so a caller's session is left untouched.
        self._headers = {
            "Authorization": auth,
            "Accept": "application/json",
            "Content-Type": "application/json",
        }

    # --- plumbing -----------------------------------------------------------------------------------

    @property
    def _session(self) -> requests.Session:
        return self._sessions.get()

    def close(self) -> None:
        self._sessions.close()

    def __enter__(self) -> BillectaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url_for(self, route_name: str, path_params: Mapping[str, object] | None = None,
                query: Mapping[str, object] | None = None) -> str:
        """The full URL a call would use (for logs, tests and the docs)."""
        return self._url(get_route(route_name), path_params, query)

    def _url(self, route: Route, path_params: Mapping[str, object] | None,
             query: Mapping[str, object] | None) -> str:
        url = self._base_url + route.render_path(path_params)
        params = {k: _query_value(v) for k, v in (query or {}).items() if v is not None}
        if params:
            url += "?" + urlencode(params, doseq=True)
        return url

    def call(
        self,
        route_name: str,
        path_params: Mapping[str, object] | None = None,
        body: object = None,
        query: Mapping[str, object] | None = None,
        *,
        idempotent: bool = True,
        raw: bool = False,
    ) -> Any:
        """Run one route; returns the parsed JSON answer, or None for an empty body.

        ``idempotent=False`` (invoice creation) retries only a 429, which Billecta refuses before doing
        anything: after a timeout or 5xx the invoice may exist, and the caller must look before retrying.
        """
        route = get_route(route_name)
        url = self._url(route, path_params, query)
        data = None if body is None else json.dumps(body, default=_json_default).encode("utf-8")
        policy = retrying(
            max_attempts=self.settings.max_attempts,
            is_retryable=retryable if idempotent else _refused_before_work,
            cap_s=self.settings.retry_after_cap_s,
            initial_s=self.backoff_initial_s,
            logger=log,
            what=f"Billecta {route.name}",
        )
        for attempt in policy:
            with attempt:
                return self._send(route, url, data, body, raw=raw)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def _send(self, route: Route, url: str, data: bytes | None, body: object, *, raw: bool = False) -> Any:
        if self._rate_limiter is not None:
            # Per attempt, like Lime's: a retry is one more request against the shared budget.
            self._rate_limiter.acquire()
        if self._on_request is not None:
            self._on_request(route.method, route.name, url, body)
        loggable = url[len(self._base_url):]  # path + query only; never headers
        started = time.monotonic()
        try:
            resp = self._session.request(route.method, url, data=data, headers=self._headers,
                                         timeout=self.settings.timeout_s)
        except (requests.ConnectionError, requests.Timeout) as exc:
            elapsed = (time.monotonic() - started) * 1000
            log.debug("billecta %s %s -> %s (%.0f ms)", route.method, loggable, type(exc).__name__, elapsed)
            metrics.outbound("billecta", route.name, type(exc).__name__)
            kind = "timed out" if isinstance(exc, requests.Timeout) else "could not connect"
            raise BillectaApiConnectionError(f"Billecta {route.name} {kind}: {exc}", route=route.name) from exc
        except requests.RequestException as exc:
            raise BillectaApiRequestException(f"Billecta {route.name} failed: {exc}", route=route.name) from exc
        elapsed = (time.monotonic() - started) * 1000
        log.debug("billecta %s %s -> %s (%.0f ms)", route.method, loggable, resp.status_code, elapsed)
        metrics.outbound("billecta", route.name, resp.status_code)
        if not 200 <= resp.status_code < 300:
            raise error_from_response(resp, route.name)
        if raw:
            return resp.content, resp.headers.get("Content-Type", "application/octet-stream")
        if not resp.content or not resp.content.strip():
            return None  # attest, update and delete answer 200/204 with no body
        try:
            return resp.json()
        except ValueError:
            return resp.text

    @staticmethod
    def _public_id(created: Any, route_name: str) -> str:
        public_id = created.get("PublicId") if isinstance(created, dict) else None
        if not public_id:
            raise BillectaApiRequestException(f"Billecta {route_name} answered without a PublicId",
                                              route=route_name)
        return str(public_id)

    def _create(self, route_name: str, body: object, *, idempotent: bool = True) -> str:
        return self._public_id(self.call(route_name, body=body, idempotent=idempotent), route_name)

    def _find(self, route_name: str, path_params: Mapping[str, object], query: Mapping[str, object]
              ) -> dict[str, Any] | None:
        try:
            found = self.call(route_name, path_params, query=query)
        except BillectaApiNotFoundException:
            return None
        return found if isinstance(found, dict) and found else None

    # --- creditors ----------------------------------------------------------------------------------

    def get_creditor(self, creditor_public_id: str) -> dict[str, Any]:
        return self.call("creditor.get", {"creditor_public_id": creditor_public_id})  # type: ignore[no-any-return]

    def create_creditor(self, view: Mapping[str, Any]) -> str:
        return self._create("creditor.create", view)

    def update_creditor(self, view: Mapping[str, Any]) -> None:
        self.call("creditor.update", body=view)

    # --- debtors ------------------------------------------------------------------------------------

    def create_debtor(self, view: Mapping[str, Any]) -> str:
        return self._create("debtor.create", view)

    def update_debtor(self, view: Mapping[str, Any]) -> None:
        self.call("debtor.update", body=view)

    def get_debtor(self, debtor_public_id: str) -> dict[str, Any]:
        return self.call("debtor.get", {"debtor_public_id": debtor_public_id})  # type: ignore[no-any-return]

    def find_debtor_by_external_id(self, creditor_public_id: str, external_id: str) -> dict[str, Any] | None:
        """The creditor's debtor with this DebtorExternalId, or None. Ambiguity raises the 400."""
        return self._find("debtor.by_external_id", {"creditor_public_id": creditor_public_id},
                          {"externalid": external_id})

    def anonymize_debtor(self, debtor_public_id: str) -> None:
        """GDPR anonymisation; the path is unverified (see routes.py)."""
        self.call("debtor.anonymize", {"debtor_public_id": debtor_public_id})

    def get_default_action_config(self, creditor_public_id: str) -> dict[str, Any]:
        return self.call("creditor.default_action_config.get",  # type: ignore[no-any-return]
                         {"creditor_public_id": creditor_public_id})

    def update_default_action_config(self, view: Mapping[str, Any]) -> None:
        self.call("creditor.default_action_config.update", body=view)

    # --- products -----------------------------------------------------------------------------------

    def create_product(self, view: Mapping[str, Any]) -> str:
        return self._create("product.create", view)

    def update_product(self, view: Mapping[str, Any]) -> None:
        self.call("product.update", body=view)

    def get_product(self, product_public_id: str) -> dict[str, Any]:
        return self.call("product.get", {"product_public_id": product_public_id})  # type: ignore[no-any-return]

    def find_product_by_external_id(self, creditor_public_id: str, external_id: str) -> dict[str, Any] | None:
        """The creditor's product with this ProductExternalId, or None. Ambiguity raises the 400."""
        return self._find("product.by_external_id", {"creditor_public_id": creditor_public_id},
                          {"externalid": external_id})

    def delete_product(self, product_public_id: str) -> None:
        self.call("product.delete", {"product_public_id": product_public_id})

    # --- invoices -----------------------------------------------------------------------------------

    def create_invoice(self, entry: Mapping[str, Any]) -> str:
        """Create an unattested invoice; returns its ActionPublicId."""
        return self._create("invoice.create", entry, idempotent=False)

    def update_invoice(self, action_public_id: str, entry: Mapping[str, Any]) -> None:
        self.call("invoice.update", {"action_public_id": action_public_id}, body=entry)

    def get_invoice(self, action_public_id: str) -> dict[str, Any]:
        return self.call("invoice.get", {"action_public_id": action_public_id})  # type: ignore[no-any-return]

    def attest_invoice(self, action_public_id: str) -> None:
        self.call("invoice.attest", {"action_public_id": action_public_id})

    def open_invoices_by_debtor(self, debtor_public_id: str) -> list[dict[str, Any]]:
        return _list_of(self.call("invoice.open_by_debtor", {"debtor_public_id": debtor_public_id}))

    def download_file(self, file_public_id: str) -> tuple[bytes, str]:
        """A file's bytes and content type through the files API (invoice PDFs, attachments)."""
        return self.call("files.file.get", {"file_public_id": file_public_id}, raw=True)  # type: ignore[no-any-return]

    def delete_invoice(self, action_public_id: str) -> None:
        self.call("invoice.delete", {"action_public_id": action_public_id})


def _refused_before_work(exc: BaseException) -> bool:
    return isinstance(exc, BillectaApiRateLimitedException)
