"""The Billecta sandbox over real HTTP: contract checks, state rules, faults and webhooks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from flask import Flask, request
from werkzeug.serving import BaseWSGIServer

from sandbox.billecta import contract
from sandbox.billecta.app import DEFAULT_AUTHORIZATION, BillectaSandboxConfig, create_app
from sandbox.billecta.state import luhn_valid
from sandbox.common import serve_in_thread

AUTH = {"Authorization": DEFAULT_AUTHORIZATION}
WEBHOOK_HEADERS = {"X-API-Key": "dev-webhook-key"}


@dataclass
class Receiver:
    """A tiny webhook endpoint that records every call and can fail the first N of them."""

    fail_first: int = 0
    calls: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def app(self) -> Flask:
        app = Flask("webhook_receiver")

        @app.post("/hook")
        def hook() -> tuple[str, int]:
            with self.lock:
                self.calls.append({"headers": dict(request.headers), "body": request.get_json(force=True)})
                failing = len(self.calls) <= self.fail_first
            return ("nope", 503) if failing else ("", 204)

        return app

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [c["body"] for c in self.calls]

    def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.bodies()):
                return
            time.sleep(0.02)
        raise AssertionError(f"webhook condition not met; got {self.bodies()}")


class Api:
    """requests against the sandbox; ``call`` also checks the answer against its view model."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers.update(AUTH)

    def call(
        self, method: str, path: str, *, expect: int = 200, view: str | None = None, **kwargs: Any
    ) -> requests.Response:
        resp = self.session.request(method, self.base + path, timeout=10, **kwargs)
        assert resp.status_code == expect, f"{method} {path}: {resp.status_code} {resp.text}"
        if view is not None:
            problems = contract.validate(view, resp.json())
            assert problems == [], problems
        if resp.status_code >= 400:
            body = resp.json()
            assert set(body) == {"Message", "ExternalErrorCode"} and isinstance(body["Message"], str)
        return resp

    def admin(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, f"{self.base}/_sandbox{path}", timeout=15, **kwargs)


def _serve(app: Flask) -> tuple[BaseWSGIServer, str]:
    return serve_in_thread(app)


def _stop(server: BaseWSGIServer) -> None:
    # shutdown() waits for serve_forever's 0.5 s poll; doing it in the background keeps the suite fast.
    def stop() -> None:
        server.shutdown()
        server.server_close()

    threading.Thread(target=stop, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    server, base = _serve(rec.app())
    rec.url = f"{base}/hook"
    yield rec
    _stop(server)


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., Api]]:
    servers: list[BaseWSGIServer] = []

    def make(**overrides: Any) -> Api:
        settings: dict[str, Any] = {"auto_send_delay_s": 0.05, "webhook_backoff_s": 0.05, **overrides}
        config = BillectaSandboxConfig(**settings)
        server, base = _serve(create_app(config))
        servers.append(server)
        return Api(base)

    yield make
    for server in servers:
        _stop(server)


@pytest.fixture
def api(make_sandbox: Callable[..., Api]) -> Api:
    return make_sandbox()


def _creditor(api: Api, name: str = "Acme AB") -> str:
    resp = api.call("POST", "/v1/creditors/creditor", expect=201, view="CreatedView",
                    json={"Name": name, "OrgNo": "556677-8899"})
    return str(resp.json()["PublicId"])


def _debtor(api: Api, creditor_id: str, external_id: str = "lime-company-1", **extra: Any) -> str:
    body = {"CreditorPublicId": creditor_id, "Name": "Kund AB", "DebtorExternalId": external_id,
            "DebtorType": "Company", "Email": "ekonomi@kund.se", "Address": "Gatan 1", "ZipCode": "11122",
            "City": "Stockholm", "CountryCode": "SE", **extra}
    return str(api.call("POST", "/v1/debtors/debtor", expect=201, view="CreatedView", json=body).json()["PublicId"])


def _product(api: Api, creditor_id: str, external_id: str = "article-1") -> str:
    body = {"CreditorPublicId": creditor_id, "Description": "Konsulttimme", "ArticleNumber": "K1",
            "ProductExternalId": external_id, "UnitPrice": 1000.0, "VAT": 25, "Units": "h", "ProductType": "Service"}
    return str(api.call("POST", "/v1/products/product", expect=201, view="CreatedView", json=body).json()["PublicId"])


def _entry(creditor_id: str, debtor_id: str, product_id: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "CreditorPublicId": creditor_id,
        "DebtorPublicId": debtor_id,
        "InvoiceDate": "2024-05-01",
        "DueDate": "2024-05-31 00:00:00+0200",
        "DeliveryMethod": "Email",
        "OurReference": "Säljare",
        "ExternalReference": "lime-order-42",
        "Records": [
            {"ProductPublicId": product_id, "ArticleDescription": "Konsulttimme", "Quantity": 3, "Units": "h",
             "UnitPrice": {"CurrencyCode": "SEK", "Value": 125050}, "VAT": 25, "RecordType": "Standard"},
            {"ArticleDescription": "Rabatt på material", "Quantity": 1, "VAT": 12,
             "UnitPrice": {"CurrencyCode": "SEK", "Value": 10000}, "DiscountType": "Percentage",
             "DiscountPercentage": 10},
            {"ArticleDescription": "Tack för beställningen!", "RecordType": "Message"},
        ],
        **extra,
    }


def test_api_requires_a_valid_authorization_header(api: Api) -> None:
    url = f"{api.base}/v1/creditors/creditors"
    missing = requests.get(url, timeout=5)
    wrong = requests.get(url, headers={"Authorization": "SecureToken d3Jvbmc="}, timeout=5)
    assert missing.status_code == 401 and wrong.status_code == 401
    assert "Authorization" in missing.json()["Message"]
    assert missing.json()["ExternalErrorCode"] is None
    created = requests.post(f"{api.base}/v1/creditors/creditor", json={"Name": "X"}, timeout=5)
    assert created.status_code == 401
    assert api.call("GET", "/v1/creditors/creditors", view="CreditorsView").json() == []
    assert api.admin("GET", "/health").json()["status"] == "ok"  # admin needs no auth


def test_unknown_path_is_a_json_404(api: Api) -> None:
    resp = api.call("GET", "/v1/invoice/nosuchthing/1", expect=404)
    assert "/v1/invoice/nosuchthing/1" in resp.json()["Message"]
    assert api.call("GET", "/v1/invoice/action/123456", expect=404).json()["Message"].startswith("Invoice action")


def test_invalid_body_is_rejected_naming_the_field_and_changes_nothing(api: Api) -> None:
    creditor_id = _creditor(api)
    bad_type = api.call("POST", "/v1/debtors/debtor", expect=400,
                        json={"CreditorPublicId": creditor_id, "Name": 123})
    assert "$.Name" in bad_type.json()["Message"]
    assert "DebtorView" in bad_type.json()["Message"]
    typo = api.call("POST", "/v1/debtors/debtor", expect=400,
                    json={"CreditorPublicId": creditor_id, "Nmae": "Kund AB"})
    assert "$.Nmae: unknown field" in typo.json()["Message"]
    bad_guid = api.call("POST", "/v1/debtors/debtor", expect=400, json={"CreditorPublicId": "42", "Name": "K"})
    assert "$.CreditorPublicId" in bad_guid.json()["Message"]
    bad_enum = api.call("POST", "/v1/debtors/debtor", expect=400,
                        json={"CreditorPublicId": creditor_id, "Name": "K", "DebtorType": "Firm"})
    assert "DebtorType" in bad_enum.json()["Message"] and "Company" in bad_enum.json()["Message"]
    not_json = api.call("POST", "/v1/debtors/debtor", expect=400, data="{nope",
                        headers={"Content-Type": "application/json"})
    assert "JSON" in not_json.json()["Message"]
    debtor_id = _debtor(api, creditor_id)
    bad_amount = _entry(creditor_id, debtor_id)
    bad_amount["Records"][0]["UnitPrice"]["Value"] = "1250.50"
    resp = api.call("POST", "/v1/invoice/action", expect=400, json=bad_amount)
    assert "$.Records[0].UnitPrice.Value" in resp.json()["Message"]
    assert len(api.call("GET", f"/v1/debtors/debtors/{creditor_id}", view="DebtorsView").json()) == 1
    assert api.call("GET", f"/v1/invoice/open/{creditor_id}", view="InvoiceActionSubsView").json() == []
    assert api.admin("GET", "/health").json()["entities"] == {
        "creditors": 1, "debtors": 1, "products": 0, "invoices": 0,
    }


def test_business_rules_on_references(api: Api) -> None:
    creditor_a, creditor_b = _creditor(api, "A"), _creditor(api, "B")
    debtor_b = _debtor(api, creditor_b)
    unknown = "00000000-0000-0000-0000-000000000001"
    missing = api.call("POST", "/v1/debtors/debtor", expect=404, json={"CreditorPublicId": unknown, "Name": "K"})
    assert unknown in missing.json()["Message"]
    other = api.call("POST", "/v1/invoice/action", expect=400, json=_entry(creditor_a, debtor_b))
    assert "another creditor" in other.json()["Message"]
    assert api.call("POST", "/v1/invoice/action", expect=404, json=_entry(creditor_a, unknown)).json()[
        "Message"
    ] == f"Debtor {unknown} not found"
    no_rows = api.call("POST", "/v1/invoice/action", expect=400,
                       json={**_entry(creditor_b, debtor_b), "Records": []})
    assert "Records" in no_rows.json()["Message"]
    in_use = api.call("DELETE", f"/v1/creditors/creditor/{creditor_b}", expect=400)
    assert "can't be deleted" in in_use.json()["Message"]
    api.call("DELETE", f"/v1/creditors/creditor/{creditor_a}")
    api.call("GET", f"/v1/creditors/creditor/{creditor_a}", expect=404)


def test_enum_names_and_codes_are_both_accepted_and_names_come_back(api: Api) -> None:
    creditor_id = _creditor(api)
    by_code = _debtor(api, creditor_id, "ext-code", DebtorType=0)
    by_name = _debtor(api, creditor_id, "ext-name", DebtorType="Company")
    assert api.call("GET", f"/v1/debtors/debtor/{by_code}", view="DebtorView").json()["DebtorType"] == "Private"
    assert api.call("GET", f"/v1/debtors/debtor/{by_name}", view="DebtorView").json()["DebtorType"] == "Company"
    entry = _entry(creditor_id, by_code, DeliveryMethod=2)  # Manually
    entry["Records"][2]["RecordType"] = 1  # Message
    action_id = api.call("POST", "/v1/invoice/action", expect=201, json=entry).json()["PublicId"]
    view = api.call("GET", f"/v1/invoice/action/{action_id}", view="InvoiceActionView").json()
    assert view["DeliveryMethod"] == "Manually"
    # The second row was sent without RecordType: it comes back with the enum's default name.
    assert [r["RecordType"] for r in view["Records"]] == ["Standard", "Standard", "Message"]
    assert view["Records"][1]["DiscountType"] == "Percentage"
    assert view["State"]["Stage"] == "Created"


def test_happy_path_with_webhooks(make_sandbox: Callable[..., Api], receiver: Receiver) -> None:
    api = make_sandbox(webhook_url=receiver.url, webhook_headers=dict(WEBHOOK_HEADERS))
    creditor_id = _creditor(api)
    creditor = api.call("GET", f"/v1/creditors/creditor/{creditor_id}", view="CreditorView").json()
    assert creditor["Name"] == "Acme AB" and creditor["CreditorPublicId"] == creditor_id
    debtor_id = _debtor(api, creditor_id)
    product_id = _product(api, creditor_id)
    product = api.call("GET", f"/v1/products/product/{product_id}", view="ProductView").json()
    assert (product["UnitPrice"], product["VAT"], product["IsActive"]) == (1000.0, 25, True)

    action_id = api.call("POST", "/v1/invoice/action", expect=201, view="CreatedView",
                         json=_entry(creditor_id, debtor_id, product_id)).json()["PublicId"]
    assert isinstance(action_id, str) and action_id.isdigit()
    draft = api.call("GET", f"/v1/invoice/action/{action_id}", view="InvoiceActionView").json()
    assert draft["State"]["Stage"] == "Created" and draft["State"]["IsLocked"] is False
    assert draft["InvoiceNumber"] is None and draft["Invoices"] == []
    # 3 x 1250.50 at 25 % VAT + 100.00 less 10 % at 12 % VAT, in öre.
    assert draft["Records"][0]["TotalExclVAT"]["Value"] == 375150
    assert draft["Records"][0]["TotalIncVAT"]["Value"] == 468938
    assert draft["Records"][1]["TotalExclVATNoDiscount"]["Value"] == 10000
    assert draft["Records"][1]["TotalExclVAT"]["Value"] == 9000
    assert draft["Records"][1]["TotalIncVAT"]["Value"] == 10080
    assert draft["Records"][2]["TotalIncVAT"] is None
    assert draft["InvoicedAmount"] == {"CurrencyCode": "SEK", "Value": 479018, "ValueForView": 4790.18}
    assert draft["CurrentAmount"]["Value"] == 479018
    assert draft["TotalVATAmount"]["Value"] == 93788 + 1080
    assert draft["ExternalReference"] == "lime-order-42"
    assert draft["InvoiceDate"].startswith("2024-05-01") and draft["DueDate"].startswith("2024-05-31")
    assert draft["PaymentTermsInDays"] == 30
    assert draft["Debtor"]["DebtorPublicId"] == debtor_id
    assert [e["EventType"] for e in draft["Events"]] == ["Created"]
    assert draft["CanRegisterPayment"] is False

    attest = api.call("PUT", f"/v1/invoice/attest/{action_id}")
    assert attest.content == b""
    attested = api.call("GET", f"/v1/invoice/action/{action_id}", view="InvoiceActionView").json()
    assert attested["State"]["Stage"] in ("Attested", "InvoiceSent")
    assert attested["State"]["IsLocked"] is True and attested["State"]["AttestedDate"]
    assert attested["InvoiceNumber"] == "1001"
    assert attested["Invoices"][0]["InvoiceNumber"] == "1001"
    ocr = attested["Invoices"][0]["OCR"]
    assert ocr.startswith("1001") and luhn_valid(ocr)
    assert attested["CanRegisterPayment"] is True and attested["CanCreateCreditInvoice"] is True

    idle = api.admin("POST", "/webhooks/wait-idle?timeout=5")
    assert idle.status_code == 200 and idle.json()["idle"] is True
    sent = api.call("GET", f"/v1/invoice/action/{action_id}", view="InvoiceActionView").json()
    assert sent["State"]["Stage"] == "InvoiceSent" and sent["State"]["InvoiceSentDate"]
    assert [e["EventType"] for e in sent["Events"]] == ["Created", "Attested", "InvoiceSent"]
    assert api.call("GET", f"/v1/creditors/creditor/{creditor_id}").json()["NextInvoiceNumber"] == "1002"

    rows = api.call("GET", f"/v1/invoice/open/{creditor_id}", view="InvoiceActionSubsView").json()
    assert [(r["ActionPublicId"], r["Stage"], r["OCR"], r["InvoicedAmount"]["Value"]) for r in rows] == [
        (action_id, "InvoiceSent", ocr, 479018)
    ]
    by_debtor = api.call("GET", f"/v1/invoice/openbydebtor/{debtor_id}", view="InvoiceActionSubsView").json()
    assert [r["ActionPublicId"] for r in by_debtor] == [action_id]

    receiver.wait_for(lambda bodies: len(bodies) >= 5)
    triggers = [b["WebhookTriggerType"] for b in receiver.bodies()]
    assert triggers == [
        "DebtorCreated", "InvoiceActionCreated", "InvoiceActionAttested",
        "InvoiceActionStateChanged", "InvoiceActionStateChanged",
    ]
    for call in receiver.calls:
        assert call["headers"]["X-Api-Key"] == "dev-webhook-key"
        assert call["headers"]["Content-Type"] == "application/json"
        body = call["body"]
        assert body["CreditorPublicId"] == creditor_id and len(body["EventId"]) == 36
        assert contract.parse_datetime(body["Created"]) is not None
    assert all(b["ActionPublicId"] == action_id for b in receiver.bodies()[1:])
    assert receiver.bodies()[0]["DebtorPublicId"] == debtor_id
    deliveries = api.admin("GET", "/webhooks?status=delivered").json()["deliveries"]
    assert len(deliveries) == 5 and all(d["attempts"] == 1 for d in deliveries)


def test_attest_twice_and_update_after_attest_are_refused(api: Api) -> None:
    creditor_id = _creditor(api)
    debtor_id = _debtor(api, creditor_id)
    entry = _entry(creditor_id, debtor_id, DeliveryMethod="Manually")
    action_id = api.call("POST", "/v1/invoice/action", expect=201, json=entry).json()["PublicId"]
    api.call("PUT", f"/v1/invoice/action/{action_id}", json={**entry, "YourReference": "Anna"})
    assert api.call("GET", f"/v1/invoice/action/{action_id}").json()["YourReference"] == "Anna"
    api.call("PUT", f"/v1/invoice/attest/{action_id}")
    again = api.call("PUT", f"/v1/invoice/attest/{action_id}", expect=400)
    assert "already attested" in again.json()["Message"]
    update = api.call("PUT", f"/v1/invoice/action/{action_id}", expect=400, json={**entry, "YourReference": "Bo"})
    assert "locked" in update.json()["Message"]
    delete = api.call("DELETE", f"/v1/invoice/action/{action_id}", expect=400)
    assert "attested" in delete.json()["Message"]
    view = api.call("GET", f"/v1/invoice/action/{action_id}", view="InvoiceActionView").json()
    assert view["YourReference"] == "Anna" and view["InvoiceNumber"] == "1001"
    # Manually delivered invoices are not sent by Billecta.
    time.sleep(0.15)
    raw = api.admin("GET", f"/state/invoices/{action_id}").json()
    assert raw["stage"] == "Attested" and raw["sent"] is None and raw["auto_send_scheduled"] is False
    assert view["CanSendManualInvoice"] is True


def test_unattested_invoice_can_be_deleted(api: Api) -> None:
    creditor_id = _creditor(api)
    debtor_id = _debtor(api, creditor_id)
    product_id = _product(api, creditor_id)
    action_id = api.call("POST", "/v1/invoice/action", expect=201,
                         json=_entry(creditor_id, debtor_id, product_id)).json()["PublicId"]
    refused = api.call("DELETE", f"/v1/products/product/{product_id}", expect=400)
    assert "used on an invoice" in refused.json()["Message"]
    api.call("DELETE", f"/v1/invoice/action/{action_id}")
    api.call("GET", f"/v1/invoice/action/{action_id}", expect=404)
    api.call("DELETE", f"/v1/products/product/{product_id}")
    api.call("GET", f"/v1/products/product/{product_id}", expect=404)


def test_lookups_by_external_id(api: Api) -> None:
    creditor_id = _creditor(api)
    debtor_id = _debtor(api, creditor_id, "lime-7")
    product_id = _product(api, creditor_id, "art-9")
    found = api.call("GET", f"/v1/debtors/debtorbyexternalid/{creditor_id}", params={"externalid": "lime-7"},
                     view="DebtorView").json()
    assert found["DebtorPublicId"] == debtor_id and found["DebtorExternalId"] == "lime-7"
    product = api.call("GET", f"/v1/products/productbyexternalid/{creditor_id}", params={"externalid": "art-9"},
                       view="ProductView").json()
    assert product["ProductPublicId"] == product_id
    api.call("GET", f"/v1/debtors/debtorbyexternalid/{creditor_id}", params={"externalid": "none"}, expect=404)
    api.call("GET", f"/v1/products/productbyexternalid/{creditor_id}", params={"externalid": "none"}, expect=404)
    _debtor(api, creditor_id, "lime-7")
    ambiguous = api.call("GET", f"/v1/debtors/debtorbyexternalid/{creditor_id}", params={"externalid": "lime-7"},
                         expect=400)
    assert "Multiple debtors (2)" in ambiguous.json()["Message"]
    # Updating the debtor replaces it and is visible through the lookup.
    api.call("PUT", "/v1/debtors/debtor", json={"DebtorPublicId": debtor_id, "CreditorPublicId": creditor_id,
                                                 "Name": "Nytt Namn AB", "DebtorExternalId": "lime-8"})
    moved = api.call("GET", f"/v1/debtors/debtorbyexternalid/{creditor_id}", params={"externalid": "lime-8"}).json()
    assert moved["Name"] == "Nytt Namn AB" and moved["DebtorPublicId"] == debtor_id and moved["Email"] is None


def test_error_rate_knob_answers_503_in_billecta_style(api: Api) -> None:
    assert api.admin("POST", "/config", json={"error_rate": 1.0}).status_code == 200
    resp = api.call("GET", "/v1/creditors/creditors", expect=503)
    assert "Injected" in resp.json()["Message"]
    api.call("POST", "/v1/creditors/creditor", expect=503, json={"Name": "X"})
    stats = api.admin("GET", "/stats").json()
    assert stats["faults"]["counters"]["injected_5xx"] == 2
    assert stats["entities"]["creditors"] == 0
    api.admin("POST", "/config", json={"knobs": {"error_rate": 0.0}})
    api.call("GET", "/v1/creditors/creditors")


def test_rate_limit_knob_answers_429_with_retry_after(api: Api) -> None:
    api.admin("POST", "/config", json={"knobs": {"rate_limit_per_s": 0.5, "rate_limit_burst": 2, "retry_after_s": 7}})
    statuses = [api.session.get(f"{api.base}/v1/creditors/creditors", timeout=5) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert statuses[2].headers["Retry-After"] == "7"
    assert statuses[2].json()["Message"] and statuses[2].json()["ExternalErrorCode"] is None
    assert api.admin("GET", "/stats").json()["faults"]["counters"]["injected_429"] == 1


def test_config_rejects_unknown_keys_without_changing_anything(api: Api) -> None:
    resp = api.admin("POST", "/config", json={"latency_ms": 5, "no_such_knob": 1})
    assert resp.status_code == 400 and "no_such_knob" in resp.json()["Message"]
    bad_style = api.admin("POST", "/config", json={"webhook_payload_style": "xml"})
    assert bad_style.status_code == 400
    config = api.admin("GET", "/config").json()
    assert config["knobs"]["latency_ms"] == 0.0 and config["webhook_payload_style"] == "flat"


def test_webhook_retried_until_delivered(make_sandbox: Callable[..., Api], receiver: Receiver) -> None:
    receiver.fail_first = 2
    api = make_sandbox(webhook_url=receiver.url, webhook_triggers=["DebtorCreated"])
    creditor_id = _creditor(api)
    debtor_id = _debtor(api, creditor_id)
    assert api.admin("POST", "/webhooks/wait-idle?timeout=5").json()["idle"] is True
    deliveries = api.admin("GET", "/webhooks").json()["deliveries"]
    assert len(deliveries) == 1
    assert (deliveries[0]["status"], deliveries[0]["attempts"], deliveries[0]["event"]) == (
        "delivered", 3, "DebtorCreated",
    )
    assert deliveries[0]["payload"]["DebtorPublicId"] == debtor_id
    # The three attempts carried the same event.
    assert len({b["EventId"] for b in receiver.bodies()}) == 1 and len(receiver.bodies()) == 3


def test_resend_keeps_event_id_and_nested_style(make_sandbox: Callable[..., Api], receiver: Receiver) -> None:
    api = make_sandbox(webhook_url=receiver.url, webhook_payload_style="nested")
    creditor_id = _creditor(api)
    debtor_id = _debtor(api, creditor_id)
    receiver.wait_for(lambda bodies: len(bodies) == 1)
    first = receiver.bodies()[0]
    assert first["Type"] == "DebtorCreated"
    assert first["Data"] == {"CreditorPublicId": creditor_id, "DebtorPublicId": debtor_id}
    assert contract.parse_datetime(first["Timestamp"]) is not None
    delivery_id = api.admin("GET", "/webhooks").json()["deliveries"][0]["id"]
    assert api.admin("POST", f"/webhooks/{delivery_id}/resend").status_code == 200
    receiver.wait_for(lambda bodies: len(bodies) == 2)
    assert receiver.bodies()[1]["EventId"] == first["EventId"]
    assert api.admin("POST", "/webhooks/999/resend").status_code == 404


def test_advance_drives_stages_and_fires_state_changed(
    make_sandbox: Callable[..., Api], receiver: Receiver
) -> None:
    api = make_sandbox(webhook_url=receiver.url, webhook_triggers=["InvoiceActionStateChanged"],
                       auto_send_delay_s=-1)
    creditor_id = _creditor(api)
    debtor_id = _debtor(api, creditor_id)
    action_id = api.call("POST", "/v1/invoice/action", expect=201, json=_entry(creditor_id, debtor_id)).json()[
        "PublicId"
    ]
    early = api.admin("POST", f"/invoices/{action_id}/advance", json={"stage": "Completed"})
    assert early.status_code == 400 and "attest it first" in early.json()["Message"]
    api.call("PUT", f"/v1/invoice/attest/{action_id}")
    time.sleep(0.1)  # negative delay: never sent automatically
    assert api.admin("GET", f"/state/invoices/{action_id}").json()["stage"] == "Attested"
    assert api.admin("POST", f"/invoices/{action_id}/advance", json={"stage": "InvoiceSent"}).status_code == 200
    done = api.admin("POST", f"/invoices/{action_id}/advance", json={"stage": "Completed"})
    assert done.status_code == 200 and done.json()["stage"] == "Completed"
    view = api.call("GET", f"/v1/invoice/action/{action_id}", view="InvoiceActionView").json()
    assert view["State"]["Stage"] == "Completed" and view["State"]["ClosedDate"]
    assert view["CurrentAmount"]["Value"] == 0 and view["PaidAmount"]["Value"] == view["InvoicedAmount"]["Value"]
    assert api.call("GET", f"/v1/invoice/open/{creditor_id}").json() == []
    closed = api.call("GET", f"/v1/invoice/closed/{creditor_id}", params={"from": "2000-01-01", "to": "2100-01-01"},
                      view="InvoiceActionSubsView").json()
    assert [r["ActionPublicId"] for r in closed] == [action_id]
    bad = api.admin("POST", f"/invoices/{action_id}/advance", json={"stage": "Paid"})
    assert bad.status_code == 400
    receiver.wait_for(lambda bodies: len(bodies) == 3)
    assert {b["WebhookTriggerType"] for b in receiver.bodies()} == {"InvoiceActionStateChanged"}


def test_request_log_and_stats(api: Api) -> None:
    creditor_id = _creditor(api)
    api.call("POST", "/v1/debtors/debtor", expect=400, json={"CreditorPublicId": creditor_id, "Name": 1})
    log = api.admin("GET", "/requests").json()["requests"]
    assert [(e["method"], e["route"], e["view"], e["status"]) for e in log] == [
        ("POST", "create_creditor", "CreditorView", 201),
        ("POST", "create_debtor", "DebtorView", 400),
    ]
    assert log[1]["body"] == {"CreditorPublicId": creditor_id, "Name": 1}
    stats = api.admin("GET", "/stats").json()
    assert stats["requests_by_route"] == {"POST create_creditor": 1, "POST create_debtor": 1}
    assert stats["faults"]["counters"]["requests"] == 2
    assert api.admin("POST", "/reset").json() == {"reset": True}
    assert api.admin("GET", "/requests").json()["requests"] == []
    assert api.call("GET", "/v1/creditors/creditors").json() == []


def test_api_authenticate_hands_out_the_secure_token(make_sandbox: Callable[..., Api]) -> None:
    basic = "Basic ZGV2OmRldg=="
    api = make_sandbox(accepted_authorizations=[DEFAULT_AUTHORIZATION, basic])
    resp = requests.post(f"{api.base}/v1/authentication/apiauthenticate", headers={"Authorization": basic}, timeout=5)
    assert resp.status_code == 200
    assert contract.validate("SecureTokenView", resp.json()) == []
    assert resp.json()["Value"] == "dev-billecta-token"
    assert json.loads(json.dumps(resp.json()))["Expires"]
