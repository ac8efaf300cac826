"""BillectaClient against a scripted HTTP server: retries, errors, headers, logging."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask, Response, request

from billecta_sync.billecta import (
    BillectaApiBadRequestException,
    BillectaApiConnectionError,
    BillectaApiNotFoundException,
    BillectaApiRateLimitedException,
    BillectaApiRequestException,
    BillectaApiServerError,
    BillectaClient,
    DeliveryMethodType,
    InvalidBillectaApiConfig,
    retryable,
)
from billecta_sync.settings import BillectaSettings, Secret
from sandbox.common import serve_in_thread

AUTH = "SecureToken c2VjcmV0LXRva2VuLXZhbHVl"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float


Reply = tuple[int, Any, dict[str, str]] | Callable[[], tuple[int, Any, dict[str, str]]]


@dataclass
class Script:
    """Answers requests in order from ``replies``; records every request."""

    replies: deque[Reply] = field(default_factory=deque)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def push(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        self.replies.append((status, body, headers or {}))


class ScriptedServer:
    """A real HTTP server whose answers come from the current test's ``Script``."""

    def __init__(self) -> None:
        self.script = Script()
        app = Flask("scripted-billecta")
        app.add_url_rule("/v1/<path:path>", "answer", self._answer, methods=["GET", "POST", "PUT", "DELETE"])
        self._server, self.url = serve_in_thread(app)

    def _answer(self, path: str) -> Response:
        script = self.script
        with script.lock:
            script.seen.append(Seen(request.method, "/" + path, dict(request.args), dict(request.headers),
                                    request.get_data(), time.monotonic()))
            reply = script.replies.popleft() if script.replies else (500, {"Message": "no scripted reply"}, {})
        status, body, headers = reply() if callable(reply) else reply
        if body is None:
            data = b""
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
        return Response(data, status=status, headers=headers, content_type="application/json")

    def shutdown(self) -> None:
        self._server.shutdown()


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    yield srv
    srv.shutdown()


@pytest.fixture
def script(server: ScriptedServer) -> Script:
    server.script = Script()
    return server.script


def make_client(base_url: str, **overrides: Any) -> BillectaClient:
    settings = BillectaSettings(base_url=base_url + "/v1", authentication=Secret(AUTH),
                                timeout_s=overrides.pop("timeout_s", 5.0),
                                max_attempts=overrides.pop("max_attempts", 4),
                                retry_after_cap_s=overrides.pop("retry_after_cap_s", 30.0))
    client = BillectaClient(settings, **overrides)
    client.backoff_initial_s = 0.01  # keep exponential backoff out of the timings
    return client


@pytest.fixture
def client(server: ScriptedServer) -> Iterator[BillectaClient]:
    c = make_client(server.url)
    yield c
    c.close()


def test_retries_503_then_succeeds(script: Script, client: BillectaClient) -> None:
    script.push(503, {"Message": "Service Unavailable"})
    script.push(201, {"PublicId": "debtor-guid-1"})
    assert client.create_debtor({"Name": "Kund AB"}) == "debtor-guid-1"
    assert [(s.method, s.path) for s in script.seen] == [("POST", "/debtors/debtor")] * 2
    assert json.loads(script.seen[1].body) == {"Name": "Kund AB"}


def test_gives_up_after_max_attempts(server: ScriptedServer, script: Script) -> None:
    url = server.url
    client = make_client(url, max_attempts=3)
    for _ in range(5):
        script.push(502, {"Message": "Bad gateway"})
    with pytest.raises(BillectaApiServerError) as info:
        client.get_debtor("d-1")
    assert info.value.status_code == 502
    assert str(info.value) == "Bad gateway"
    assert len(script.seen) == 3


def test_429_retry_after_is_honoured(script: Script, client: BillectaClient) -> None:
    script.push(429, {"Message": "Too many requests"}, {"Retry-After": "1"})
    script.push(200, {"DebtorPublicId": "d-1", "Name": "Kund AB"})
    assert client.get_debtor("d-1")["Name"] == "Kund AB"
    assert len(script.seen) == 2
    gap = script.seen[1].at - script.seen[0].at
    assert gap >= 0.95, f"second request came {gap:.3f} s after the 429"
    assert gap < 3.0


def test_retry_after_is_capped(server: ScriptedServer, script: Script) -> None:
    url = server.url
    client = make_client(url, retry_after_cap_s=0.2)
    script.push(429, {"Message": "slow down"}, {"Retry-After": "120"})
    script.push(200, {"DebtorPublicId": "d-1"})
    started = time.monotonic()
    client.get_debtor("d-1")
    assert time.monotonic() - started < 2.0
    assert script.seen[1].at - script.seen[0].at >= 0.19


def test_429_on_every_attempt_raises_rate_limited_with_hint(server: ScriptedServer, script: Script) -> None:
    url = server.url
    client = make_client(url, max_attempts=2, retry_after_cap_s=0.05)
    script.push(429, {"Message": "slow down"}, {"Retry-After": "7"})
    script.push(429, {"Message": "slow down"}, {"Retry-After": "7"})
    with pytest.raises(BillectaApiRateLimitedException) as info:
        client.get_debtor("d-1")
    assert info.value.retry_after_s == 7.0
    assert info.value.status_code == 429
    assert len(script.seen) == 2


def test_400_is_not_retried_and_carries_billectas_message(script: Script, client: BillectaClient) -> None:
    script.push(400, {"Message": "DebtorPublicId is missing", "ExternalErrorCode": "E-1042"})
    with pytest.raises(BillectaApiBadRequestException) as info:
        client.update_debtor({"Name": "x"})
    exc = info.value
    assert str(exc) == "DebtorPublicId is missing"
    assert exc.status_code == 400
    assert exc.external_error_code == "E-1042"
    assert exc.route == "debtor.update"
    assert not retryable(exc)
    assert len(script.seen) == 1


def test_error_without_json_falls_back_to_text(script: Script, client: BillectaClient) -> None:
    script.push(409, "Conflict: invoice is locked")
    with pytest.raises(BillectaApiRequestException) as info:
        client.attest_invoice("123")
    assert type(info.value) is BillectaApiRequestException
    assert str(info.value) == "Conflict: invoice is locked"
    assert info.value.status_code == 409
    assert len(script.seen) == 1


@pytest.mark.parametrize("status", [200, 201, 204])
def test_empty_success_body_is_none(script: Script, client: BillectaClient, status: int) -> None:
    script.push(status, None)
    assert client.call("invoice.attest", {"action_public_id": "7545769088"}) is None
    seen = script.seen[0]
    assert (seen.method, seen.path, seen.body) == ("PUT", "/invoice/attest/7545769088", b"")


def test_authorization_sent_verbatim_and_never_logged(script: Script, client: BillectaClient,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    script.push(503, {"Message": "busy"})
    script.push(200, {"CreditorPublicId": "c-1", "Name": "Fastigheter AB"})
    assert client.get_creditor("c-1")["Name"] == "Fastigheter AB"
    for seen in script.seen:
        assert seen.headers["Authorization"] == AUTH
        assert seen.headers["Accept"] == "application/json"
        assert seen.headers["Content-Type"] == "application/json"
    text = caplog.text
    assert "GET /creditors/creditor/c-1 -> 200" in text
    assert "GET /creditors/creditor/c-1 -> 503" in text
    assert AUTH not in text
    assert AUTH.split()[1] not in text


def test_find_by_external_id_404_is_none(server: ScriptedServer, script: Script) -> None:
    urls: list[str] = []
    client = make_client(server.url, on_request=lambda method, name, url, body: urls.append(url))
    script.push(404, {"Message": "Debtor not found"})
    assert client.find_debtor_by_external_id("cred/1", "lime:42 å") is None
    assert urls == [server.url + "/v1/debtors/debtorbyexternalid/cred%2F1?externalid=lime%3A42+%C3%A5"]
    assert script.seen[0].query == {"externalid": "lime:42 å"}
    script.push(200, {"ProductPublicId": "p-1"})
    assert client.find_product_by_external_id("c-1", "A-100") == {"ProductPublicId": "p-1"}
    assert script.seen[1].path == "/products/productbyexternalid/c-1"
    assert script.seen[1].query == {"externalid": "A-100"}


def test_path_params_are_url_quoted(client: BillectaClient) -> None:
    url = client.url_for("invoice.get", {"action_public_id": "a/b?c"})
    assert url.endswith("/v1/invoice/action/a%2Fb%3Fc")
    with pytest.raises(ValueError, match="action_public_id"):
        client.url_for("invoice.get", {})


def test_not_found_on_get_raises(script: Script, client: BillectaClient) -> None:
    script.push(404, {"Message": "Invoice not found"})
    with pytest.raises(BillectaApiNotFoundException, match="Invoice not found"):
        client.get_invoice("999")
    assert len(script.seen) == 1


def test_on_request_hook_sees_every_attempt(server: ScriptedServer, script: Script) -> None:
    url = server.url
    calls: list[tuple[str, str, str, object]] = []
    client = make_client(url, on_request=lambda *args: calls.append(args))
    entry = {"CreditorPublicId": "c-1", "DeliveryMethod": DeliveryMethodType["Email"],
             "Records": [{"VAT": Decimal("25"), "Quantity": Decimal("1.5")}]}
    script.push(429, {"Message": "slow down"}, headers={"Retry-After": "0"})
    script.push(201, {"PublicId": "7545769088"})
    assert client.create_invoice(entry) == "7545769088"
    assert calls == [("POST", "invoice.create", url + "/v1/invoice/action", entry)] * 2
    # Enums travel as names, Decimals as plain JSON numbers.
    assert json.loads(script.seen[1].body) == {"CreditorPublicId": "c-1", "DeliveryMethod": "Email",
                                               "Records": [{"VAT": 25, "Quantity": 1.5}]}


def test_invoice_create_is_not_retried_after_a_server_error(script: Script, client: BillectaClient) -> None:
    # The invoice may exist after a 5xx; the order use-case looks it up instead of posting again.
    script.push(500, {"Message": "oops"})
    script.push(201, {"PublicId": "second"})
    with pytest.raises(BillectaApiServerError):
        client.create_invoice({"CreditorPublicId": "c-1"})
    assert len(script.seen) == 1


def test_create_without_public_id_is_an_error(script: Script, client: BillectaClient) -> None:
    script.push(201, {})
    with pytest.raises(BillectaApiRequestException, match="without a PublicId"):
        client.create_product({"Description": "x"})


def test_open_invoices_by_debtor_accepts_list_or_wrapper(script: Script, client: BillectaClient) -> None:
    script.push(200, [{"ActionPublicId": "1"}, {"ActionPublicId": "2"}])
    assert [r["ActionPublicId"] for r in client.open_invoices_by_debtor("d-1")] == ["1", "2"]
    script.push(200, {"Total": 1, "Offset": 0, "Items": [{"ActionPublicId": "3"}]})
    assert [r["ActionPublicId"] for r in client.open_invoices_by_debtor("d-1")] == ["3"]
    script.push(200, None)
    assert client.open_invoices_by_debtor("d-1") == []
    assert script.seen[0].path == "/invoice/openbydebtor/d-1"


def test_query_parameters_and_delete_routes(script: Script, client: BillectaClient) -> None:
    script.push(200, None)
    client.delete_invoice("55")
    script.push(200, None)
    client.delete_product("p-9")
    script.push(200, [])
    client.call("invoice.closed", {"creditor_public_id": "c-1"}, query={"from": "2024-01-01", "to": None})
    assert [(s.method, s.path, s.query) for s in script.seen] == [
        ("DELETE", "/invoice/action/55", {}),
        ("DELETE", "/products/product/p-9", {}),
        ("GET", "/invoice/closed/c-1", {"from": "2024-01-01"}),
    ]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_errors_are_retried_then_raised() -> None:
    client = make_client(f"http://127.0.0.1:{_closed_port()}", max_attempts=2, timeout_s=1.0)
    attempts: list[str] = []
    client._on_request = lambda method, name, url, body: attempts.append(name)
    with pytest.raises(BillectaApiConnectionError) as info:
        client.get_product("p-1")
    assert info.value.status_code is None
    assert retryable(info.value)
    assert attempts == ["product.get", "product.get"]


def test_missing_credentials_are_a_config_error() -> None:
    with pytest.raises(InvalidBillectaApiConfig):
        BillectaClient(BillectaSettings(base_url="https://apitest.billecta.com/v1", authentication=Secret("")))


def test_unknown_route_name() -> None:
    client = make_client("http://127.0.0.1:9")
    with pytest.raises(KeyError, match="unknown Billecta route"):
        client.call("invoice.teleport")


class CountingLimiter:
    """Stands in for the shared Redis limiter: counts slots taken, or refuses every one."""

    def __init__(self, refuse: bool = False) -> None:
        self.taken = 0
        self.refuse = refuse

    def acquire(self, timeout_s: float = 60) -> None:
        from billecta_sync.ratelimit import RateLimitTimeout

        if self.refuse:
            raise RateLimitTimeout("ratelimit:billecta", timeout_s, 1.0)
        self.taken += 1

    def try_acquire(self) -> float:
        return 0.0


def test_every_attempt_takes_a_slot_of_the_shared_billecta_budget(server: ScriptedServer, script: Script) -> None:
    limiter = CountingLimiter()
    client = make_client(server.url, rate_limiter=limiter)
    script.push(429, {"Message": "Too many requests"}, {"Retry-After": "0"})
    script.push(200, {"DebtorPublicId": "d-1", "Name": "Kund AB"})
    assert client.get_debtor("d-1")["Name"] == "Kund AB"
    assert limiter.taken == 2 == len(script.seen)  # the 429 was retried, and the retry paid for its slot


def test_no_request_leaves_while_the_budget_is_spent(server: ScriptedServer, script: Script) -> None:
    from billecta_sync.ratelimit import RateLimitTimeout
    from billecta_sync.retry import is_retryable

    client = make_client(server.url, rate_limiter=CountingLimiter(refuse=True))
    with pytest.raises(RateLimitTimeout) as caught:
        client.get_debtor("d-1")
    assert script.seen == []
    assert is_retryable(caught.value)  # the task backs off and tries again later
