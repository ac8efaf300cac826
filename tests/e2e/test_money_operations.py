"""Money operations from Lime over real processes, exactly once: manual payments, write-offs, matching, deleting
unhandled payments, credit use and Swish — each ending with exactly one booking in Billecta and in Lime, also
when the request comes twice, with or without an Idempotency-Key, when Billecta applies a payment and the
answer is lost, and when the worker is killed right after Billecta took the call.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from billecta_sync.billecta import BillectaClient
from billecta_sync.lime import LimeClient
from billecta_sync.lime.values import option_key
from devstack.stack import Stack
from tests.e2e.support import settle, wait_for

pytestmark = pytest.mark.slow

FAST_RECOVERY = {"WORKER_TASK_SOFT_TIME_LIMIT_S": "8", "WORKER_TASK_TIME_LIMIT_S": "10",
                 "WORKER_VISIBILITY_TIMEOUT_S": "15", "WORKER_SWEEP_INTERVAL_S": "5"}


@pytest.fixture(scope="module")
def stack(stack_starter: Callable[..., Stack], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # A short Billecta timeout, so "applied, then the answer was lost" is a timeout within the test.
    running = stack_starter(tmp_path_factory.mktemp("stack-money"), database_url=None, redis_index=0,
                            extra_env={"WORKER_MAX_RETRIES": "3", "WORKER_RETRY_BACKOFF_MAX_S": "1",
                                       "GATEWAY_COMMAND_WAIT_S": "25", "BILLECTA_API_TIMEOUT_S": "2",
                                       **FAST_RECOVERY})
    try:
        yield running
    finally:
        running.stop()


def call(stack: Stack, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{stack.gateway_url}{stack.config.prefix}{path}",
                            headers={"X-API-Key": stack.config.commands_key, **kwargs.pop("headers", {})},
                            timeout=90, **kwargs)


def admin(stack: Stack, path: str, **body: Any) -> Any:
    resp = requests.post(f"{stack.billecta_admin_url}{path}", json=body, timeout=15)
    assert resp.status_code == 200, resp.text
    return resp.json()


def billecta_calls(stack: Stack, method: str, fragment: str) -> int:
    entries = requests.get(f"{stack.billecta_admin_url}/requests", timeout=10).json()["requests"]
    return sum(1 for e in entries if e["method"] == method and fragment in e["path"])


class Book:
    def __init__(self, stack: Stack, billecta: BillectaClient, lime: LimeClient) -> None:
        self.stack, self.billecta, self.lime = stack, billecta, lime
        tag = uuid.uuid4().hex[:6]
        self.creditor = billecta.create_creditor({"Name": f"Pengar AB {tag}", "OrgNo": "556000-0005"})
        self.lime_creditor = int(lime.create("creditor", {"name": f"Pengar AB {tag}",
                                                          "creditorpublicid": self.creditor})["_id"])
        self.debtor = billecta.create_debtor({"CreditorPublicId": self.creditor, "Name": f"Kund {tag}",
                                              "OrgNo": "556123-4567", "DebtorType": "Company",
                                              "Email": "kund@example.se", "CountryCode": "SE"})

    def invoice(self, ore: int = 100000, action_type: str | None = None) -> tuple[str, int]:
        entry: dict[str, Any] = {
            "CreditorPublicId": self.creditor, "DebtorPublicId": self.debtor, "DeliveryMethod": "Email",
            "Records": [{"RecordType": "Standard", "ArticleDescription": "Konsult", "Quantity": 1, "VAT": 0,
                         "UnitPrice": {"CurrencyCode": "SEK", "Value": ore}}]}
        if action_type:
            entry["ActionType"] = action_type
        action = self.billecta.create_invoice(entry)
        self.billecta.attest_invoice(action)
        lime_id = wait_for(lambda: self.lime_id(action), f"the Lime invoice of {action}")
        settle(self.stack)
        return action, lime_id

    def lime_id(self, action: str) -> int | None:
        rows = list(self.lime.query("invoice", ["_id"], filter={"key": "actionpublicid", "op": "=", "exp": action}))
        return int(rows[0]["_id"]) if rows else None

    def payments(self, action: str) -> list[dict[str, Any]]:
        body = {"CreditorPublicId": self.creditor, "From": "2000-01-01", "To": "2100-01-01",
                "ActionPublicIdFilter": [action]}
        return list(self.billecta.call("payments.incoming", body=body) or [])

    def lime_payments(self, invoice_id: int) -> list[dict[str, Any]]:
        return list(self.lime.query("payment", ["_id", "amount", "paymenttype", "paymentstatus", "paymentmeancode"],
                                    filter={"key": "invoice", "op": "=", "exp": invoice_id}))


@pytest.fixture(scope="module")
def book(stack: Stack, billecta: BillectaClient, lime: LimeClient) -> Book:
    return Book(stack, billecta, lime)


def payment_body(invoice: int, amount: Any = 250.0, **overrides: Any) -> dict[str, Any]:
    return {"invoice_id": invoice, "payment_amount": amount, "payment_currencycode": "SEK",
            "payment_date": "2026-11-30", "payment_mean_code": "BG", **overrides}


def test_a_manual_payment_is_booked_once_and_reaches_lime_like_billectas_own(stack: Stack, book: Book) -> None:
    action, invoice_id = book.invoice(100000)
    first = call(stack, "POST", "/billecta/register-manual-payment", json=payment_body(invoice_id))
    assert first.status_code == 200, first.text
    assert first.json() == {"status_code": 200}
    # The same click again (no key): the first answer, nothing booked a second time.
    again = call(stack, "POST", "/billecta/register-manual-payment", json=payment_body(invoice_id))
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert [p["Amount"]["Value"] for p in book.payments(action)] == [25000]
    settle(stack)
    stored = book.lime.get("invoice", invoice_id)
    assert float(stored["paidamount"]) == 250.0 and option_key(stored["invoicestatus"]) == "subpaid"
    assert [float(p["amount"]) for p in book.lime_payments(invoice_id)
            if option_key(p["paymenttype"]) == "payment"] == [250.0]


def test_an_idempotency_key_replays_its_answer_and_refuses_another_body(stack: Stack, book: Book) -> None:
    action, invoice_id = book.invoice(100000)
    key = {"Idempotency-Key": f"lime-{uuid.uuid4().hex}"}
    assert call(stack, "POST", "/billecta/register-manual-payment", json=payment_body(invoice_id, 100.0),
                headers=key).status_code == 200
    assert call(stack, "POST", "/billecta/register-manual-payment", json=payment_body(invoice_id, 100.0),
                headers=key).json() == {"status_code": 200}
    other = call(stack, "POST", "/billecta/register-manual-payment", json=payment_body(invoice_id, 101.0),
                 headers=key)
    assert other.status_code == 409 and other.json()["error"] == "idempotency_key_reused"
    # Two deliberate, identical payments: two keys.
    assert call(stack, "POST", "/billecta/register-manual-payment", json=payment_body(invoice_id, 100.0),
                headers={"Idempotency-Key": f"lime-{uuid.uuid4().hex}"}).status_code == 200
    assert sorted(p["Amount"]["Value"] for p in book.payments(action)) == [10000, 10000]


def test_float_amounts_book_exact_ore(stack: Stack, book: Book) -> None:
    action, invoice_id = book.invoice(100000)
    resp = call(stack, "POST", "/billecta/register-manual-payment", json=payment_body(invoice_id, 0.1 + 0.2))
    assert resp.status_code == 200, resp.text
    assert [p["Amount"]["Value"] for p in book.payments(action)] == [30]


@pytest.mark.parametrize("overrides, field", [
    ({"payment_amount": 10.005}, "payment_amount"),
    ({"payment_amount": 0}, "payment_amount"),
    ({"payment_amount": -5}, "payment_amount"),
    ({"payment_amount": "tio"}, "payment_amount"),
    ({"payment_date": "30/11/2026"}, "payment_date"),
    ({"payment_currencycode": "kr"}, "payment_currencycode"),
    ({"payment_currencycode": "EUR"}, "payment_currencycode"),  # the invoice is in SEK
    ({"payment_mean_code": "BITCOIN"}, "payment_mean_code"),  # not a payment mean of the creditor
    ({"invoice_id": 999999999}, None),  # 404
])
def test_bad_payments_are_refused_naming_the_field_and_book_nothing(stack: Stack, book: Book,
                                                                    overrides: dict[str, Any],
                                                                    field: str | None) -> None:
    action, invoice_id = book.invoice(50000)
    before = billecta_calls(stack, "POST", "/invoice/payment")
    resp = call(stack, "POST", "/billecta/register-manual-payment", json=payment_body(invoice_id, **overrides))
    if field is None:
        assert resp.status_code == 404 and resp.json()["error_message"]
    else:
        assert resp.status_code == 400, resp.text
        assert resp.json()["field"] == field and resp.json()["error_message"]
    assert billecta_calls(stack, "POST", "/invoice/payment") == before
    assert book.payments(action) == []


def test_a_payment_applied_by_billecta_whose_answer_was_lost_is_booked_once(stack: Stack, book: Book) -> None:
    action, invoice_id = book.invoice(100000)
    # The sandbox books the payment, then stalls past the service's 2 s timeout: the answer is lost.
    admin(stack, "/config", knobs={"stall_after_routes": ["invoice.register_payment"], "stall_after_s": 4})
    try:
        resp = call(stack, "POST", "/billecta/register-manual-payment", json=payment_body(invoice_id, 400.0))
    finally:
        admin(stack, "/config", knobs={"stall_after_routes": [], "stall_after_s": 0})
    assert resp.status_code == 200, resp.text
    assert [p["Amount"]["Value"] for p in book.payments(action)] == [40000]
    assert billecta_calls(stack, "POST", "/invoice/payment") >= 1


@pytest.mark.timeout(240)
def test_a_worker_killed_after_billecta_took_the_payment_books_it_once(stack: Stack, book: Book) -> None:
    action, invoice_id = book.invoice(100000)
    admin(stack, "/config", knobs={"stall_after_routes": ["invoice.register_payment"], "stall_after_s": 6})
    try:
        body = payment_body(invoice_id, 300.0)
        # Send without waiting for the answer, then kill the worker while Billecta holds the call.
        answers: list[requests.Response] = []
        sender = threading.Thread(target=lambda: answers.append(call(
            stack, "POST", "/billecta/register-manual-payment", json=body, headers={"Idempotency-Key": "kill-1"})))
        sender.start()
        wait_for(lambda: billecta_calls(stack, "POST", "/invoice/payment") > 0 and book.payments(action),
                 "Billecta to book the payment", 30)
        stack.kill_service("worker")
        admin(stack, "/config", knobs={"stall_after_routes": [], "stall_after_s": 0})
        stack.start_service("worker")
        sender.join(timeout=120)
    finally:
        admin(stack, "/config", knobs={"stall_after_routes": [], "stall_after_s": 0})
    # The redelivered task saw the payment in Billecta and did not book it again.
    wait_for(lambda: call(stack, "POST", "/billecta/register-manual-payment", json=body,
                          headers={"Idempotency-Key": "kill-1"}).status_code == 200, "the request to finish", 120)
    assert [p["Amount"]["Value"] for p in book.payments(action)] == [30000]
    settle(stack)
    assert [float(p["amount"]) for p in book.lime_payments(invoice_id)
            if option_key(p["paymenttype"]) == "payment"] == [300.0]


def test_write_off_once_and_not_more_than_is_left(stack: Stack, book: Book) -> None:
    action, invoice_id = book.invoice(80000)
    body = {"invoiceid": invoice_id, "amount": 150.0, "vat": "25", "paymentdate": "2026-11-30",
            "comment": "Ej indrivningsbart"}
    assert call(stack, "POST", "/billecta/register-writeoff-payment", json=body).json() == {"status_code": 200}
    assert call(stack, "POST", "/billecta/register-writeoff-payment", json=body).status_code == 200
    assert book.billecta.get_invoice(action)["WriteOffAmount"]["Value"] == 15000
    too_much = call(stack, "POST", "/billecta/register-writeoff-payment",
                    json={**body, "amount": 10000.0})
    assert too_much.status_code == 400 and too_much.json()["field"] == "amount"
    settle(stack)
    assert float(book.lime.get("invoice", invoice_id)["writtenoffamount"]) == 150.0


def test_an_unmatched_payment_is_matched_once_and_shows_its_new_state(stack: Stack, book: Book) -> None:
    action, invoice_id = book.invoice(60000)
    unmatched = admin(stack, "/unmatched-payments", creditor_public_id=book.creditor, amount="200.00")
    settle(stack)
    body = {"payment_billecta_id": unmatched["UnhandledPaymentPublicId"], "invoice_id": invoice_id}
    matched = call(stack, "POST", "/billecta/match-payment/", json=body)
    assert matched.status_code == 200, matched.text
    assert matched.json() == {"status_code": 200, "status": "The match was successful"}
    assert call(stack, "POST", "/billecta/match-payment/", json=body).status_code == 200
    assert sum(p["Amount"]["Value"] for p in book.payments(action)) == 20000
    settle(stack)
    rows = list(book.lime.query("payment", ["_id", "paymentstatus"], filter={
        "key": "paymentbillectaid", "op": "=", "exp": unmatched["UnhandledPaymentPublicId"]}))
    assert [option_key(r["paymentstatus"]) for r in rows] == ["usedoninvoice"]


def test_an_unhandled_payment_is_deleted_and_lime_says_so(stack: Stack, book: Book) -> None:
    unmatched = admin(stack, "/unmatched-payments", creditor_public_id=book.creditor, amount="75.00")
    settle(stack)
    row = wait_for(lambda: (lambda r: r[0] if r else None)(list(book.lime.query("payment", ["_id"], filter={
        "key": "paymentbillectaid", "op": "=", "exp": unmatched["UnhandledPaymentPublicId"]}))), "the Lime payment")
    body = {"_id": row["_id"], "bookkeepingaccount": "3740", "transactiondate": "2026-11-30"}
    resp = call(stack, "POST", "/billecta/delete-unhandled-payment/", json=body)
    assert resp.status_code == 200, resp.text
    assert call(stack, "POST", "/billecta/delete-unhandled-payment/", json=body).status_code == 200
    view = book.billecta.call("payments.unhandled.get",
                              {"unhandled_payment_public_id": unmatched["UnhandledPaymentPublicId"]})
    assert view["State"] == "Deleted"
    assert option_key(book.lime.get("payment", row["_id"])["paymentstatus"]) == "deleted"


def test_a_credit_invoices_credit_is_used_on_another_invoice_once(stack: Stack, book: Book) -> None:
    target_action, target_id = book.invoice(50000)
    _credit_action, credit_id = book.invoice(-20000, action_type="CreditInvoiceAction")
    body = {"creditinvoiceid": credit_id, "invoicetocreditid": target_id, "paymentmeancode": "BG"}
    resp = call(stack, "POST", "/billecta/use-credit-on-invoice", json=body)
    assert resp.status_code == 200, resp.text
    assert call(stack, "POST", "/billecta/use-credit-on-invoice", json=body).status_code == 200
    view = book.billecta.get_invoice(target_action)
    assert view["CurrentAmount"]["Value"] == 30000


def test_a_swish_request_is_sent_once_and_its_payment_reaches_lime(stack: Stack, book: Book) -> None:
    action, invoice_id = book.invoice(12500)
    url = f"/billecta/swish-request/{action}"
    bad = call(stack, "POST", url, params={"phone": "08-123 45 67", "message": "Faktura"})
    assert bad.status_code == 400 and bad.json()["field"] == "phone"
    long = call(stack, "POST", url, params={"phone": "0701234567", "message": "x" * 51})
    assert long.status_code == 400 and long.json()["field"] == "message"
    sent = call(stack, "POST", url, params={"phone": "070-123 45 67", "message": "Faktura 1001"})
    assert sent.status_code == 201, sent.text
    request_id = sent.json()["requestid"]
    assert call(stack, "POST", url, params={"phone": "070-123 45 67", "message": "Faktura 1001"}).json() == {
        "requestid": request_id}
    assert billecta_calls(stack, "POST", f"/payments/swish/{action}") == 1
    status = call(stack, "GET", f"/billecta/swish-request/status/{request_id}")
    assert status.status_code == 200 and status.json()["requeststatus"] in ("CREATED", "PAID")
    admin(stack, f"/swish/{request_id}/complete", status="Paid")
    assert call(stack, "GET", f"/billecta/swish-request/status/{request_id}").json() == {"requeststatus": "PAID"}
    settle(stack)
    stored = book.lime.get("invoice", invoice_id)
    assert option_key(stored["invoicestatus"]) == "paid"
    assert [p["paymentmeancode"] for p in book.lime_payments(invoice_id)
            if option_key(p["paymenttype"]) == "payment"] == ["SWISH"]


def test_a_payment_billecta_could_not_place_is_linked_by_its_ocr(stack: Stack, book: Book) -> None:
    _action, invoice_id = book.invoice(33300)
    ocr = book.lime.get("invoice", invoice_id)["ocr"]
    assert ocr
    unmatched = admin(stack, "/unmatched-payments", creditor_public_id=book.creditor, amount="333.00", reference=ocr)
    settle(stack)
    rows = list(book.lime.query("payment", ["_id", "invoice", "paymenttype", "paymentstatus"], filter={
        "key": "paymentbillectaid", "op": "=", "exp": unmatched["UnhandledPaymentPublicId"]}))
    assert len(rows) == 1
    assert rows[0]["invoice"] == invoice_id  # linked by OCR, though Billecta names no invoice
    assert option_key(rows[0]["paymenttype"]) == "unmatched" and option_key(rows[0]["paymentstatus"]) == "unhandled"
