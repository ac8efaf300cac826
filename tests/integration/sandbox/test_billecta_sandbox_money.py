"""The money routes the service calls on the Billecta sandbox, over HTTP: registering payments and write-offs,
payment means, deleting and matching unhandled payments, using a free credit, Swish, and the stall-after knob
("Billecta applied it, then the answer was lost"). Every answer and every webhook body is checked against its
view model (webhooks in the ``documented`` style, whose Data is a view)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask, request

from sandbox.billecta import contract
from sandbox.billecta.app import DEFAULT_AUTHORIZATION, BillectaSandboxConfig, create_app
from sandbox.common import serve_in_thread

AUTH = {"Authorization": DEFAULT_AUTHORIZATION}
# The view model of each money webhook's Data (IncomingPaymentView is only known as an item of its list view).
WEBHOOK_VIEWS = {
    "InvoicePaymentReceived": "IncomingPaymentsView",
    "AmountWrittenOffOnInvoice": "IncomingPaymentsView",
    "Overpayment": "UnhandledPaymentView",
    "OverpaymentMatchedToInvoice": "UnhandledPaymentView",
    "UnmatchedPayment": "UnhandledPaymentView",
}


class Hook:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        app = Flask("hook")

        @app.post("/hook")
        def hook() -> tuple[str, int]:
            with self.lock:
                self.bodies.append(request.get_json(force=True))
            return "", 204

        self.server, base = serve_in_thread(app)
        self.url = f"{base}/hook"

    def events(self, trigger: str) -> list[dict[str, Any]]:
        with self.lock:
            return [b for b in self.bodies if b["WebhookTriggerType"] == trigger]

    def data(self, trigger: str) -> list[Any]:
        return [b["Data"] for b in self.events(trigger)]


class Api:
    def __init__(self, base: str, hook: Hook) -> None:
        self.base = base
        self.hook = hook

    def call(self, method: str, path: str, view: str | None = None, expect: int = 200, **kw: Any) -> Any:
        resp = requests.request(method, self.base + path, headers=AUTH, timeout=10, **kw)
        assert resp.status_code == expect, resp.text
        body = resp.json() if resp.content else None
        if view:
            assert contract.validate(view, body) == []
        if expect == 400:
            assert set(body) == {"Message", "ExternalErrorCode"} and body["Message"]
        return body

    def admin(self, method: str, path: str, expect: int = 200, **body: Any) -> Any:
        resp = requests.request(method, f"{self.base}/_sandbox{path}", json=body, timeout=10)
        assert resp.status_code == expect, resp.text
        return resp.json()

    def settle(self) -> None:
        """Wait for the webhooks, then check every money webhook's Data against its view model."""
        requests.post(f"{self.base}/_sandbox/webhooks/wait-idle", params={"timeout": 10}, timeout=15)
        assert requests.get(f"{self.base}/_sandbox/webhooks", timeout=10).json()["contract_problems"] == []
        for trigger, view in WEBHOOK_VIEWS.items():
            for data in self.hook.data(trigger):
                assert contract.validate(view, [data] if view.endswith("sView") else data) == [], trigger

    def invoice(self, action: str) -> dict[str, Any]:
        body: dict[str, Any] = self.call("GET", f"/v1/invoice/action/{action}", view="InvoiceActionView")
        return body

    def payments(self, creditor: str, action: str) -> list[dict[str, Any]]:
        body: list[dict[str, Any]] = self.call(
            "PUT", "/v1/payments/incomingpayments", view="IncomingPaymentsView",
            json={"CreditorPublicId": creditor, "From": "2000-01-01", "To": "2100-01-01",
                  "ActionPublicIdFilter": [action]})
        return body

    def unhandled(self, creditor: str) -> list[dict[str, Any]]:
        body: list[dict[str, Any]] = self.call("GET", f"/v1/payments/unhandledpayments/{creditor}",
                                               view="UnhandledPaymentsView")
        return body

    def pay(self, action: str, value: int | None = None, expect: int = 200, **fields: Any) -> Any:
        body: dict[str, Any] = {"ActionPublicId": action, "Date": "2026-01-10", "PaymentMeanCode": "BG", **fields}
        if value is not None:
            body["Amount"] = {"CurrencyCode": "SEK", "Value": value}
        assert contract.validate("RegisterPaymentView", body) == []
        return self.call("POST", "/v1/invoice/payment", expect=expect, json=body)

    def creditor(self) -> tuple[str, str]:
        creditor = self.call("POST", "/v1/creditors/creditor", expect=201, json={"Name": "Acme AB"})["PublicId"]
        debtor = self.call("POST", "/v1/debtors/debtor", expect=201,
                           json={"CreditorPublicId": creditor, "Name": "Kund AB", "DebtorType": "Company"})["PublicId"]
        return creditor, debtor

    def invoice_of(self, creditor: str, debtor: str, ore: int, attest: bool = True, **entry: Any) -> str:
        body = {"CreditorPublicId": creditor, "DebtorPublicId": debtor, "DeliveryMethod": "Manually",
                "Records": [{"ArticleDescription": "Hyra", "Quantity": 1, "VAT": 0, "RecordType": "Standard",
                             "UnitPrice": {"CurrencyCode": "SEK", "Value": ore}}], **entry}
        action: str = self.call("POST", "/v1/invoice/action", expect=201, json=body, view="CreatedView")["PublicId"]
        if attest:
            self.call("PUT", f"/v1/invoice/attest/{action}")
        return action

    def sent_invoice(self, ore: int = 100000) -> tuple[str, str, str]:
        creditor, debtor = self.creditor()
        return creditor, debtor, self.invoice_of(creditor, debtor, ore)


@pytest.fixture
def api() -> Iterator[Api]:
    hook = Hook()
    config = BillectaSandboxConfig(auto_send_delay_s=-1, webhook_backoff_s=0.01, webhook_backoff_max_s=0.02,
                                   webhook_max_attempts=2, webhook_url=hook.url, webhook_payload_style="documented",
                                   swish_delay_s=-1)
    server, base = serve_in_thread(create_app(config))
    yield Api(base, hook)
    for s in (server, hook.server):
        threading.Thread(target=lambda s=s: (s.shutdown(), s.server_close()), daemon=True).start()


# ---- POST /v1/invoice/payment ------------------------------------------------------------------------


def test_partial_then_full_payment_lowers_the_balance_then_completes(api: Api) -> None:
    creditor, _debtor, action = api.sent_invoice(100000)
    assert api.pay(action, 40000, PaymentReferenceText="Lime 17") is None  # 200, empty
    invoice = api.invoice(action)
    assert invoice["CurrentAmount"]["Value"] == 60000 and invoice["PaidAmount"]["Value"] == 40000
    assert invoice["State"]["Stage"] == "Attested"
    api.pay(action, 60000, PaymentMeanCode="CASH")
    invoice = api.invoice(action)
    assert invoice["State"]["Stage"] == "Completed" and invoice["CurrentAmount"]["Value"] == 0
    listed = api.payments(creditor, action)
    assert [(p["Amount"]["Value"], p["PaymentMeanCode"]) for p in listed] == [(40000, "BG"), (60000, "CASH")]
    assert listed[0]["PaymentDate"].startswith("2026-01-10")
    api.settle()
    # Each payment keeps one PaymentReferenceId: the webhook's is the listed one.
    assert [d["PaymentReferenceId"] for d in api.hook.data("InvoicePaymentReceived")] == [
        p["PaymentReferenceId"] for p in listed]
    assert api.unhandled(creditor) == []
    api.pay(action, 100, expect=400)  # closed now


def test_overshooting_amount_is_refused_unless_its_handling_is_set(api: Api) -> None:
    creditor, _debtor, action = api.sent_invoice(50000)
    api.pay(action, 60000, expect=400)  # OvershootingAmountHandling None
    assert api.invoice(action)["CurrentAmount"]["Value"] == 50000 and api.payments(creditor, action) == []
    api.pay(action, 60000, OvershootingAmountHandling="AsOverPayments")
    invoice = api.invoice(action)
    assert invoice["State"]["Stage"] == "Completed" and invoice["PaidAmount"]["Value"] == 50000
    [over] = api.unhandled(creditor)
    assert over["UnhandledPaymentType"] == "OverPayment" and over["State"] == "Unhandled"
    assert over["Amount"]["Value"] == 10000 and over["OverpaymentDetails"]["ActionPublicId"] == action
    api.settle()
    assert [d["UnhandledPaymentPublicId"] for d in api.hook.data("Overpayment")] == [over["UnhandledPaymentPublicId"]]
    assert len(api.hook.events("InvoicePaymentReceived")) == 1

    _c, _d, other = api.sent_invoice(50000)
    api.pay(other, 50050, OvershootingAmountHandling=1)  # the code of AsCurrencyDifference
    assert api.invoice(other)["State"]["Stage"] == "Completed"
    assert api.unhandled(_c) == []


def test_write_off_alone_and_after_a_payment(api: Api) -> None:
    creditor, _debtor, action = api.sent_invoice(50000)
    api.pay(action, None, WriteOff={"CurrencyCode": "SEK", "Value": 10000}, WriteOffVat=25.0, Comment="Goodwill")
    invoice = api.invoice(action)
    assert invoice["WriteOffAmount"]["Value"] == 10000 and invoice["CurrentAmount"]["Value"] == 40000
    api.pay(action, None, expect=400, WriteOff={"CurrencyCode": "SEK", "Value": 40001})
    api.pay(action, 0, WriteOff={"CurrencyCode": "SEK", "Value": 5000})  # an Amount of 0 beside it: no payment
    api.pay(action, None, WriteOff={"CurrencyCode": "SEK", "Value": -5000}, expect=400)
    assert api.invoice(action)["CurrentAmount"]["Value"] == 35000 and api.payments(creditor, action) == []
    api.pay(action, 30000, WriteOff={"CurrencyCode": "SEK", "Value": 5000})  # pays, then writes the rest off
    invoice = api.invoice(action)
    assert invoice["State"]["Stage"] == "Completed" and invoice["WriteOffAmount"]["Value"] == 20000
    assert invoice["PaidAmount"]["Value"] == 30000
    assert [p["Amount"]["Value"] for p in api.payments(creditor, action)] == [30000]  # write-offs are not payments
    api.settle()
    written = api.hook.data("AmountWrittenOffOnInvoice")
    assert [d["Amount"]["Value"] for d in written] == [10000, 5000, 5000]
    assert all(d["ActionPublicId"] == action for d in written)


@pytest.mark.parametrize(
    "case",
    ["zero", "negative", "currency", "mean", "removed_mean", "write_off_too_large", "write_off_zero", "nothing",
     "overpay_and_write_off", "unattested", "closed", "credit_invoice", "no_action"],
)
def test_refusals_are_400_and_change_nothing(api: Api, case: str) -> None:
    creditor, debtor, action = api.sent_invoice(50000)
    api.pay(action, 10000)
    target = action
    fields: dict[str, Any] = {}
    value: int | None = 1000
    if case == "zero":
        value = 0
    elif case == "negative":
        value = -100
    elif case == "currency":
        value, fields = None, {"Amount": {"CurrencyCode": "EUR", "Value": 1000}}
    elif case == "mean":
        fields = {"PaymentMeanCode": "BITCOIN"}
    elif case == "removed_mean":
        api.admin("DELETE", f"/creditors/{creditor}/paymentmeans/CASH")
        fields = {"PaymentMeanCode": "CASH"}
    elif case == "write_off_too_large":
        value, fields = None, {"WriteOff": {"CurrencyCode": "SEK", "Value": 40001}}
    elif case == "write_off_zero":
        value, fields = None, {"WriteOff": {"CurrencyCode": "SEK", "Value": 0}}
    elif case == "nothing":
        value = None
    elif case == "overpay_and_write_off":
        value, fields = 40000, {"WriteOff": {"CurrencyCode": "SEK", "Value": 100}}
    elif case == "unattested":
        target = api.invoice_of(creditor, debtor, 50000, attest=False)
    elif case == "closed":
        target = api.invoice_of(creditor, debtor, 50000)
        api.admin("POST", f"/invoices/{target}/advance", stage="Cancelled")
    elif case == "credit_invoice":
        target = api.invoice_of(creditor, debtor, -5000, ActionType="CreditInvoiceAction")
    elif case == "no_action":
        target = ""
    before = api.invoice(target) if target else None
    listed = api.payments(creditor, target or action)
    unhandled = api.unhandled(creditor)
    api.pay(target, value, expect=400, **fields)
    if before is not None:
        after = api.invoice(target)
        for key in ("CurrentAmount", "PaidAmount", "WriteOffAmount", "State", "Events"):
            assert after[key] == before[key], key
    assert api.payments(creditor, target or action) == listed
    assert api.unhandled(creditor) == unhandled


def test_unknown_invoice_is_404(api: Api) -> None:
    api.pay("0", 100, expect=404)


# ---- payment means -----------------------------------------------------------------------------------


def test_each_creditor_has_the_default_payment_means_and_an_admin_may_change_them(api: Api) -> None:
    creditor, _debtor, action = api.sent_invoice(50000)
    means = api.call("GET", f"/v1/accounting/paymentmeans/{creditor}", view="AccountingPaymentMeansView")
    assert [m["PaymentCode"] for m in means] == ["BG", "PG", "SWISH", "CASH", "AG"]
    assert all(m["CreditorPublicId"] == creditor and m["BookkeepingAccount"] for m in means)
    added = api.admin("POST", f"/creditors/{creditor}/paymentmeans", code="KLARNA", description="Klarna",
                      account="1580")
    assert added[-1] == {"CreditorPublicId": creditor, "PaymentCode": "KLARNA", "Description": "Klarna",
                         "BookkeepingAccount": "1580"}
    api.pay(action, 1000, PaymentMeanCode="KLARNA")
    api.call("POST", "/v1/accounting/paymentmeans",
             json={"CreditorPublicId": creditor, "PaymentCode": "INKASSO", "Description": "Inkasso"})
    api.admin("DELETE", f"/creditors/{creditor}/paymentmeans/PG")
    codes = [m["PaymentCode"] for m in api.call("GET", f"/v1/accounting/paymentmeans/{creditor}",
                                                 view="AccountingPaymentMeansView")]
    assert codes == ["BG", "SWISH", "CASH", "AG", "KLARNA", "INKASSO"]
    api.pay(action, 1000, expect=400, PaymentMeanCode="PG")
    api.admin("DELETE", f"/creditors/{creditor}/paymentmeans/PG", expect=404)
    api.call("GET", "/v1/accounting/paymentmeans/00000000-0000-0000-0000-000000000000", expect=404)


# ---- unhandled payments: delete, match ----------------------------------------------------------------


def test_delete_an_unhandled_payment(api: Api) -> None:
    creditor, _debtor, _action = api.sent_invoice()
    payment = api.admin("POST", "/unmatched-payments", creditor_public_id=creditor, amount="99.50")
    pid = payment["UnhandledPaymentPublicId"]
    path = f"/v1/payments/unhandledpayment/{pid}"
    api.call("DELETE", path, expect=400, params={"bookkeepingaccount": "konto"})
    api.call("DELETE", path, expect=400, params={"transactiondate": "igår"})
    assert api.call("GET", path, view="UnhandledPaymentView")["State"] == "Unhandled"
    api.call("DELETE", path, params={"bookkeepingaccount": "3740", "transactiondate": "2026-01-31"})
    deleted = api.call("GET", path, view="UnhandledPaymentView")
    assert deleted["State"] == "Deleted"
    assert any("3740" in line and "2026-01-31" in line for line in deleted["AdditionalInformations"])
    assert api.unhandled(creditor) == []
    api.call("DELETE", path, expect=400)  # already deleted
    api.call("DELETE", "/v1/payments/unhandledpayment/00000000-0000-0000-0000-000000000000", expect=404)


def test_match_payments_books_the_unhandled_payment_on_the_invoice(api: Api) -> None:
    creditor, _debtor, action = api.sent_invoice(50000)
    pid = api.admin("POST", "/unmatched-payments", creditor_public_id=creditor, amount="200")[
        "UnhandledPaymentPublicId"]
    closed = api.invoice_of(creditor, _debtor, 10000)
    api.admin("POST", f"/invoices/{closed}/advance", stage="Cancelled")
    other = api.admin("POST", "/unmatched-payments", creditor_public_id=creditor, amount="10")[
        "UnhandledPaymentPublicId"]
    matches = [{"UnhandledPaymentPublicId": pid, "ActionPublicId": action, "PaymentDate": "2026-02-01"},
               {"UnhandledPaymentPublicId": pid, "ActionPublicId": action, "PaymentDate": None},
               {"UnhandledPaymentPublicId": other, "ActionPublicId": closed, "PaymentDate": None}]
    assert contract.validate("PaymentMatchesView", matches) == []
    results = api.call("POST", f"/v1/payments/matchpayments/{creditor}", json=matches, view="PaymentMatchResultsView")
    assert [(r["UnhandledPaymentPublicId"], r["Successfull"]) for r in results] == [
        (pid, True), (pid, False), (other, False)]
    assert results[0]["ResponseMessage"] is None
    assert "UsedOnInvoice" in results[1]["ResponseMessage"] and "closed" in results[2]["ResponseMessage"]
    used = api.call("GET", f"/v1/payments/unhandledpayment/{pid}", view="UnhandledPaymentView")
    assert used["State"] == "UsedOnInvoice" and used["OverpaymentDetails"]["UsedOnActionPublicId"] == action
    assert api.invoice(action)["CurrentAmount"]["Value"] == 30000
    [booked] = api.payments(creditor, action)
    assert booked["Amount"]["Value"] == 20000 and booked["PaymentDate"].startswith("2026-02-01")
    assert [p["UnhandledPaymentPublicId"] for p in api.unhandled(creditor)] == [other]
    api.call("DELETE", f"/v1/payments/unhandledpayment/{pid}", expect=400)  # used: can't be deleted
    api.settle()
    assert [d["UnhandledPaymentPublicId"] for d in api.hook.data("OverpaymentMatchedToInvoice")] == [pid]
    assert [d["ActionPublicId"] for d in api.hook.data("InvoicePaymentReceived")] == [action]
    api.call("POST", "/v1/payments/matchpayments/00000000-0000-0000-0000-000000000000", json=[], expect=404)


def test_a_free_credit_invoice_leaves_a_balance_used_on_another_invoice(api: Api) -> None:
    creditor, debtor, action = api.sent_invoice(50000)
    credit = api.invoice_of(creditor, debtor, -20000, ActionType="CreditInvoiceAction")
    view = api.invoice(credit)
    assert view["ActionType"] == "CreditInvoiceAction" and view["CurrentAmount"]["Value"] == 0
    [balance] = api.unhandled(creditor)
    assert balance["UnhandledPaymentType"] == "BalanceFromInvoice" and balance["Amount"]["Value"] == 20000
    assert balance["OverpaymentDetails"]["ActionPublicId"] == credit
    assert balance["OverpaymentDetails"]["ActionType"] == "CreditInvoiceAction"
    assert balance["DebtorPublicId"] == debtor
    [result] = api.call("POST", f"/v1/payments/matchpayments/{creditor}", view="PaymentMatchResultsView",
                        json=[{"UnhandledPaymentPublicId": balance["UnhandledPaymentPublicId"],
                               "ActionPublicId": action}])
    assert result["Successfull"] is True
    assert api.invoice(action)["CurrentAmount"]["Value"] == 30000
    used = api.call("GET", f"/v1/payments/unhandledpayment/{balance['UnhandledPaymentPublicId']}")
    assert used["State"] == "UsedOnInvoice" and used["OverpaymentDetails"]["UsedOnActionPublicId"] == action
    # A credit of an invoice still settles that invoice, and leaves no balance.
    api.invoice_of(creditor, debtor, -30000, ActionType="CreditInvoiceAction", CreditingInvoicePublicId=action)
    assert api.invoice(action)["State"]["Stage"] == "Completed"
    assert api.unhandled(creditor) == []
    api.settle()


# ---- Swish -------------------------------------------------------------------------------------------


def swish(api: Api, action: str, expect: int = 201, phone: str = "070-123 45 67", message: str = "Faktura") -> Any:
    return api.call("POST", f"/v1/payments/swish/{action}", expect=expect, params={"phone": phone, "message": message},
                    view="CreatedView" if expect == 201 else None)


def test_swish_request_is_paid_after_the_delay_and_books_the_rest(api: Api) -> None:
    api.admin("POST", "/config", swish_delay_s=0.3)
    creditor, _debtor, action = api.sent_invoice(50000)
    api.pay(action, 10000)
    token = swish(api, action)["PublicId"]
    status = api.call("GET", f"/v1/payments/swish/{token}", view="SwishPaymentStatusView")
    assert status["Status"] == "Created" and status["Amount"]["Value"] == 40000 and status["PaidDate"] is None
    assert api.invoice(action)["State"]["SwishPaymentPublicId"] == token
    deadline = time.monotonic() + 5
    while status["Status"] == "Created" and time.monotonic() < deadline:
        time.sleep(0.05)
        status = api.call("GET", f"/v1/payments/swish/{token}", view="SwishPaymentStatusView")
    assert status["Status"] == "Paid" and status["PaidDate"] and status["ErrorCode"] is None
    assert api.invoice(action)["State"]["Stage"] == "Completed"
    assert [(p["Amount"]["Value"], p["PaymentMeanCode"]) for p in api.payments(creditor, action)] == [
        (10000, "BG"), (40000, "SWISH")]
    api.settle()
    assert [d["PaymentMeanCode"] for d in api.hook.data("InvoicePaymentReceived")] == ["BG", "SWISH"]
    # Ending it as it already ended is a no-op (the delay may come first); another ending is refused.
    assert api.admin("POST", f"/swish/{token}/complete", status="Paid")["Status"] == "Paid"
    api.admin("POST", f"/swish/{token}/complete", expect=400, status="Declined")
    assert len(api.payments(creditor, action)) == 2


@pytest.mark.parametrize("ending", ["Declined", "Error"])
def test_swish_request_declined_or_failed_books_nothing(api: Api, ending: str) -> None:
    creditor, _debtor, action = api.sent_invoice(50000)
    token = swish(api, action)["PublicId"]
    status = api.admin("POST", f"/swish/{token}/complete", status=ending)
    assert contract.validate("SwishPaymentStatusView", status) == []
    fetched = api.call("GET", f"/v1/payments/swish/{token}", view="SwishPaymentStatusView")
    assert fetched["Status"] == ending and fetched["ErrorCode"] and fetched["ErrorMessage"]
    assert api.payments(creditor, action) == [] and api.invoice(action)["CurrentAmount"]["Value"] == 50000
    # The knob: new requests end this way on their own.
    api.admin("POST", "/config", swish_outcome=ending, swish_delay_s=0.05)
    second = swish(api, action)["PublicId"]
    deadline = time.monotonic() + 5
    while api.call("GET", f"/v1/payments/swish/{second}")["Status"] == "Created" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api.call("GET", f"/v1/payments/swish/{second}", view="SwishPaymentStatusView")["Status"] == ending
    assert api.payments(creditor, action) == []


def test_swish_admin_completion_pays_at_once(api: Api) -> None:
    creditor, _debtor, action = api.sent_invoice(50000)
    token = swish(api, action, phone="+46701234567")["PublicId"]
    assert api.admin("POST", f"/swish/{token}/complete", status="Paid")["Status"] == "Paid"
    assert [p["PaymentMeanCode"] for p in api.payments(creditor, action)] == ["SWISH"]
    assert api.invoice(action)["State"]["Stage"] == "Completed"
    api.admin("POST", f"/swish/{token}/complete", expect=400, status="Error")
    api.admin("POST", "/swish/nope/complete", expect=404, status="Paid")
    api.call("DELETE", f"/v1/payments/swish/{token}", expect=400)  # paid: can't be cancelled


def test_a_cancelled_swish_request_never_pays(api: Api) -> None:
    api.admin("POST", "/config", swish_delay_s=0.2)
    creditor, _debtor, action = api.sent_invoice(50000)
    token = swish(api, action)["PublicId"]
    api.call("DELETE", f"/v1/payments/swish/{token}")
    time.sleep(0.4)
    assert api.call("GET", f"/v1/payments/swish/{token}", view="SwishPaymentStatusView")["Status"] == "Cancelled"
    assert api.payments(creditor, action) == []
    api.admin("POST", f"/swish/{token}/complete", expect=400, status="Paid")


def test_swish_refusals(api: Api) -> None:
    creditor, debtor, action = api.sent_invoice(50000)
    before = api.invoice(action)
    for phone in ("08-123 456 78", "0701234", "+4570123456", "telefon", ""):
        swish(api, action, expect=400, phone=phone)
    swish(api, action, expect=400, message="x" * 51)
    after = api.invoice(action)
    assert (after["Events"], after["State"]) == (before["Events"], before["State"])  # nothing changed
    swish(api, action, message="x" * 50)
    closed = api.invoice_of(creditor, debtor, 10000)
    api.admin("POST", f"/invoices/{closed}/advance", stage="Cancelled")
    swish(api, closed, expect=400)
    swish(api, "0", expect=404)
    api.call("GET", "/v1/payments/swish/NOPE", expect=404)
    api.admin("POST", "/config", expect=400, swish_outcome="Maybe")


# ---- "Billecta applied it, then the answer was lost" --------------------------------------------------


def test_stall_after_applies_the_payment_then_answers_too_late(api: Api) -> None:
    creditor, _debtor, action = api.sent_invoice(50000)
    api.admin("POST", "/config", stall_after_routes=["register_invoice_payment"], stall_after_s=1.5)
    body = {"ActionPublicId": action, "Amount": {"CurrencyCode": "SEK", "Value": 20000}, "PaymentMeanCode": "BG",
            "Date": "2026-01-10"}
    with pytest.raises(requests.ReadTimeout):
        requests.post(f"{api.base}/v1/invoice/payment", json=body, headers=AUTH, timeout=0.5)
    # Other routes answer at once; the payment is booked (and the call logged) although its answer was lost.
    logged = requests.get(f"{api.base}/_sandbox/requests", params={"route": "register_invoice_payment"},
                          timeout=10).json()["requests"]
    assert [e["status"] for e in logged] == [200]
    [booked] = api.payments(creditor, action)
    assert booked["Amount"]["Value"] == 20000
    assert api.invoice(action)["CurrentAmount"]["Value"] == 30000
    started = time.monotonic()
    resp = requests.post(f"{api.base}/v1/invoice/payment", json=body, headers=AUTH, timeout=10)
    assert resp.status_code == 200 and time.monotonic() - started >= 1.4
    api.admin("POST", "/config", stall_after_routes=[])
    api.pay(action, 10000)
    assert len(api.payments(creditor, action)) == 3
    # The client's route names work too, and the settings may be sent among the knobs.
    api.admin("POST", "/config", knobs={"stall_after_routes": ["payments.match"], "stall_after_s": 1.5})
    assert api.invoice(action)["State"]["Stage"] == "Completed"
    other = api.invoice_of(creditor, _debtor, 5000)
    pid = api.admin("POST", "/unmatched-payments", creditor_public_id=creditor, amount="10")[
        "UnhandledPaymentPublicId"]
    with pytest.raises(requests.ReadTimeout):
        requests.post(f"{api.base}/v1/payments/matchpayments/{creditor}", headers=AUTH, timeout=0.5,
                      json=[{"UnhandledPaymentPublicId": pid, "ActionPublicId": other}])
    assert api.call("GET", f"/v1/payments/unhandledpayment/{pid}")["State"] == "UsedOnInvoice"
    assert api.invoice(other)["CurrentAmount"]["Value"] == 4000
    settings = api.admin("POST", "/config", knobs={"stall_after_routes": [], "stall_after_s": 0})
    assert (settings["stall_after_routes"], settings["stall_after_s"]) == ([], 0.0)
    assert "stall_after_routes" not in settings["knobs"]
    api.admin("POST", "/config", expect=400, stall_after_routes="register_invoice_payment")


def test_a_swish_payment_on_an_invoice_paid_meanwhile_becomes_an_overpayment(api: Api) -> None:
    creditor, _debtor, action = api.sent_invoice(50000)
    token = swish(api, action)["PublicId"]
    api.pay(action, 50000)  # paid by bankgiro while the Swish request is pending
    api.admin("POST", f"/swish/{token}/complete", status="Paid")
    [over] = api.unhandled(creditor)
    assert over["UnhandledPaymentType"] == "OverPayment" and over["Amount"]["Value"] == 50000
    assert over["OverpaymentDetails"]["ActionPublicId"] == action
    assert [p["PaymentMeanCode"] for p in api.payments(creditor, action)] == ["BG"]
    api.settle()
    assert [d["UnhandledPaymentPublicId"] for d in api.hook.data("Overpayment")] == [over["UnhandledPaymentPublicId"]]


def test_matching_more_than_is_left_leaves_the_surplus_as_an_overpayment(api: Api) -> None:
    creditor, _debtor, action = api.sent_invoice(10000)
    pid = api.admin("POST", "/unmatched-payments", creditor_public_id=creditor, amount="150")[
        "UnhandledPaymentPublicId"]
    [result] = api.call("POST", f"/v1/payments/matchpayments/{creditor}", view="PaymentMatchResultsView",
                        json=[{"UnhandledPaymentPublicId": pid, "ActionPublicId": action}])
    assert result["Successfull"] is True
    assert api.invoice(action)["State"]["Stage"] == "Completed"
    [rest] = api.unhandled(creditor)
    assert rest["UnhandledPaymentType"] == "OverPayment" and rest["Amount"]["Value"] == 5000
    assert rest["OverpaymentDetails"]["ActionPublicId"] == action
    api.settle()
