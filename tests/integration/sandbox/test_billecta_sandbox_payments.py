"""The Billecta sandbox after attest: payments, overpayments, credits, write-offs, debt collection, autogiro,
unmatched payments and the retrigger of failed webhooks — each raising the webhook Billecta would raise."""

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


class Hook:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.fail = False
        self.lock = threading.Lock()
        app = Flask("hook")

        @app.post("/hook")
        def hook() -> tuple[str, int]:
            if self.fail:
                return "down", 503
            with self.lock:
                self.bodies.append(request.get_json(force=True))
            return "", 204

        self.server, base = serve_in_thread(app)
        self.url = f"{base}/hook"

    def events(self, trigger: str) -> list[dict[str, Any]]:
        with self.lock:
            return [b for b in self.bodies if b["WebhookTriggerType"] == trigger]


@pytest.fixture
def env() -> Iterator[tuple[str, Hook]]:
    hook = Hook()
    config = BillectaSandboxConfig(auto_send_delay_s=-1, webhook_backoff_s=0.01, webhook_backoff_max_s=0.02,
                                   webhook_max_attempts=2, webhook_url=hook.url)
    server, base = serve_in_thread(create_app(config))
    yield base, hook
    for s in (server, hook.server):
        threading.Thread(target=lambda s=s: (s.shutdown(), s.server_close()), daemon=True).start()


def call(base: str, method: str, path: str, view: str | None = None, expect: int = 200, **kw: Any) -> Any:
    resp = requests.request(method, base + path, headers=AUTH, timeout=10, **kw)
    assert resp.status_code == expect, resp.text
    body = resp.json() if resp.content else None
    if view:
        assert contract.validate(view, body) == []
    return body


def admin(base: str, path: str, expect: int = 200, **body: Any) -> Any:
    resp = requests.post(f"{base}/_sandbox{path}", json=body, timeout=10)
    assert resp.status_code == expect, resp.text
    return resp.json()


def wait_idle(base: str) -> None:
    requests.post(f"{base}/_sandbox/webhooks/wait-idle", params={"timeout": 10}, timeout=15)


def sent_invoice(base: str, ore: int = 100000) -> tuple[str, str, str]:
    creditor = call(base, "POST", "/v1/creditors/creditor", expect=201, json={"Name": "Acme AB"})["PublicId"]
    debtor = call(base, "POST", "/v1/debtors/debtor", expect=201,
                  json={"CreditorPublicId": creditor, "Name": "Kund AB", "DebtorType": "Company"})["PublicId"]
    entry = {"CreditorPublicId": creditor, "DebtorPublicId": debtor, "DeliveryMethod": "Email",
             "Records": [{"ArticleDescription": "Hyra", "Quantity": 1, "VAT": 0, "RecordType": "Standard",
                          "UnitPrice": {"CurrencyCode": "SEK", "Value": ore}}]}
    action = call(base, "POST", "/v1/invoice/action", expect=201, json=entry)["PublicId"]
    call(base, "PUT", f"/v1/invoice/attest/{action}")
    admin(base, f"/invoices/{action}/advance", stage="InvoiceSent")
    return creditor, debtor, action


def test_partial_then_over_payment_completes_the_invoice_and_leaves_an_overpayment(env: tuple[str, Hook]) -> None:
    base, hook = env
    creditor, _debtor, action = sent_invoice(base, 100000)
    admin(base, f"/invoices/{action}/payments", amount="400.00", date="2026-01-10", payment_mean_code="BG")
    invoice = call(base, "GET", f"/v1/invoice/action/{action}", view="InvoiceActionView")
    assert invoice["PaidAmount"]["Value"] == 40000 and invoice["CurrentAmount"]["Value"] == 60000
    assert invoice["State"]["Stage"] == "InvoiceSent"

    result = admin(base, f"/invoices/{action}/payments", amount="700.00", payment_mean_code="SWISH")
    invoice = call(base, "GET", f"/v1/invoice/action/{action}", view="InvoiceActionView")
    assert invoice["State"]["Stage"] == "Completed"
    assert invoice["PaidAmount"]["Value"] == 100000 and invoice["CurrentAmount"]["Value"] == 0

    payments = call(base, "PUT", "/v1/payments/incomingpayments", view="IncomingPaymentsView",
                    json={"CreditorPublicId": creditor, "From": "2020-01-01", "To": "2100-01-01",
                          "ActionPublicIdFilter": [action]})
    assert sorted(p["Amount"]["Value"] for p in payments) == [40000, 60000]
    assert len({p["PaymentReferenceId"] for p in payments}) == 2

    over_id = result["overpayment"]["UnhandledPaymentPublicId"]
    over = call(base, "GET", f"/v1/payments/unhandledpayment/{over_id}", view="UnhandledPaymentView")
    assert over["Amount"]["Value"] == 10000 and over["UnhandledPaymentType"] == "OverPayment"
    assert over["OverpaymentDetails"]["ActionPublicId"] == action
    wait_idle(base)
    assert len(hook.events("InvoicePaymentReceived")) == 2
    assert [e["UnhandledPaymentPublicId"] for e in hook.events("Overpayment")] == [over_id]


def test_credit_raises_amount_credited_for_both_invoices_and_links_them(env: tuple[str, Hook]) -> None:
    base, hook = env
    _creditor, _debtor, action = sent_invoice(base, 50000)
    credit_id = admin(base, f"/invoices/{action}/credit")["credit_action_public_id"]
    original = call(base, "GET", f"/v1/invoice/action/{action}", view="InvoiceActionView")
    assert original["State"]["Stage"] == "Completed" and original["CreditedAmount"]["Value"] == 50000
    credit = call(base, "GET", f"/v1/invoice/action/{credit_id}", view="InvoiceActionView")
    assert credit["ActionType"] == "CreditInvoiceAction"
    assert credit["CreditingInvoice"]["SourcePublicId"] == action
    wait_idle(base)
    assert {(e["ActionPublicId"], e["ActionType"]) for e in hook.events("AmountCreditedOnInvoice")} == {
        (action, "InvoiceAction"), (credit_id, "CreditInvoiceAction")}


def test_write_off_reminder_and_debt_collection(env: tuple[str, Hook]) -> None:
    base, hook = env
    _creditor, _debtor, action = sent_invoice(base, 50000)
    admin(base, f"/invoices/{action}/writeoff", amount="100")
    invoice = call(base, "GET", f"/v1/invoice/action/{action}", view="InvoiceActionView")
    assert invoice["WriteOffAmount"]["Value"] == 10000 and invoice["CurrentAmount"]["Value"] == 40000
    reminder = admin(base, f"/invoices/{action}/reminder")["reminder_action_public_id"]
    case = admin(base, f"/invoices/{action}/debtcollection")
    assert contract.validate("DebtCollectionActionView", case) == []
    admin(base, f"/debtcollection/{case['ActionPublicId']}/advance", stage="DebtCollectionInvoiceSent", interest="12.5")
    fetched = call(base, "GET", f"/v1/debtcollection/action/{case['ActionPublicId']}", view="DebtCollectionActionView")
    assert fetched["State"]["Stage"] == "DebtCollectionInvoiceSent"
    assert fetched["InterestAmount"]["Value"] == 1250 and fetched["InvoiceSourcePublicId"] == action
    invoice = call(base, "GET", f"/v1/invoice/action/{action}", view="InvoiceActionView")
    assert invoice["DebtCollectionActionPublicId"] == case["ActionPublicId"]
    assert invoice["ReminderInvoiceActionPublicId"] == reminder
    # Debt collection does not close the reminder: only the source's completion or cancellation does.
    view = call(base, "GET", f"/v1/invoice/reminderinvoice/{reminder}", view="ReminderInvoiceActionView")
    assert (view["SourceActionPublicId"], view["Stage"]) == (action, "ReminderInvoiceSent")
    wait_idle(base)
    assert len(hook.events("AmountWrittenOffOnInvoice")) == 1
    assert [e["ReminderInvoiceActionPublicId"] for e in hook.events("ReminderInvoiceActionCreated")] == [reminder]
    assert len(hook.events("DebtCollectionActionStateChanged")) == 2
    admin(base, "/invoices/0/payments", expect=404, amount="1")


def test_reminder_invoice_is_readable_and_closes_with_its_source(env: tuple[str, Hook]) -> None:
    base, _hook = env
    _creditor, _debtor, action = sent_invoice(base, 50000)
    admin(base, f"/invoices/{action}/payments", amount="100.00")
    reminder = admin(base, f"/invoices/{action}/reminder", fee="75.50", days=12)["reminder_action_public_id"]
    source = call(base, "GET", f"/v1/invoice/action/{action}", view="InvoiceActionView")
    view = call(base, "GET", f"/v1/invoice/reminderinvoice/{reminder}", view="ReminderInvoiceActionView")
    assert view["ActionPublicId"] == reminder and view["SourceActionPublicId"] == action
    assert view["Stage"] == "ReminderInvoiceSent" and view["ClosedDate"] is None
    assert view["ReminderFee"]["Value"] == 7550
    assert view["CurrentValue"]["Value"] == 40000 + 7550  # the open balance plus the fee
    [document] = view["ReminderInvoices"]
    assert document["InvoicedAmount"]["Value"] == 40000 + 7550
    assert document["PaymentTermsInDays"] == 12 and document["DueDate"] > document["InvoiceDate"]
    assert document["InvoiceNumber"] and document["InvoiceNumber"] != source["InvoiceNumber"]
    assert document["OCR"] and document["OCR"] != source["Invoices"][0]["OCR"]

    admin(base, f"/invoices/{action}/payments", amount="400.00")  # the rest: the source completes
    assert call(base, "GET", f"/v1/invoice/action/{action}")["State"]["Stage"] == "Completed"
    closed = call(base, "GET", f"/v1/invoice/reminderinvoice/{reminder}", view="ReminderInvoiceActionView")
    assert closed["Stage"] == "Completed" and closed["ClosedDate"] and closed["CurrentValue"]["Value"] == 0

    _creditor, _debtor, other = sent_invoice(base, 20000)
    second = admin(base, f"/invoices/{other}/reminder")["reminder_action_public_id"]
    assert call(base, "GET", f"/v1/invoice/reminderinvoice/{second}")["ReminderFee"]["Value"] == 6000
    admin(base, f"/invoices/{other}/advance", stage="Cancelled")
    assert call(base, "GET", f"/v1/invoice/reminderinvoice/{second}",
                view="ReminderInvoiceActionView")["Stage"] == "Cancelled"
    call(base, "GET", "/v1/invoice/reminderinvoice/0", expect=404)
    admin(base, f"/invoices/{action}/reminder", expect=400)  # a closed invoice gets no reminder


def test_unmatched_payment_autogiro_and_retrigger(env: tuple[str, Hook]) -> None:
    base, hook = env
    creditor, debtor, _action = sent_invoice(base)
    wait_idle(base)
    hook.fail = True
    unmatched = admin(base, "/unmatched-payments", creditor_public_id=creditor, amount="99.5", reference="okänd")
    fetched = call(base, "GET", f"/v1/payments/unhandledpayment/{unmatched['UnhandledPaymentPublicId']}",
                   view="UnhandledPaymentView")
    assert fetched["UnhandledPaymentType"] == "UnmatchedPayment" and fetched["Amount"]["Value"] == 9950
    admin(base, f"/debtors/{debtor}/autogiro", status="failed")
    wait_idle(base)
    assert hook.events("UnmatchedPayment") == []
    hook.fail = False
    resent = call(base, "POST", f"/v1/notifications/retriggerfailedwebhooks/{creditor}")
    assert resent["Resent"] == 2
    wait_idle(base)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not hook.events("AutogiroApprovalFailed"):
        time.sleep(0.05)
    assert len(hook.events("UnmatchedPayment")) == 1
    assert [e["DebtorPublicId"] for e in hook.events("AutogiroApprovalFailed")] == [debtor]
    assert call(base, "GET", f"/v1/debtors/debtor/{debtor}")["Autogiro"]["Stage"] == "Failed"
