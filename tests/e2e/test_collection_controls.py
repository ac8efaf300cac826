"""Collection controls from Lime over real processes: gateway → interactive worker → Billecta sandbox → Lime.

Each endpoint answers with the seed package's shapes; a refusal, a missing object and Billecta being down end
with a clear error (on the Lime object too); the same action twice acts once in Billecta.
"""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from pypdf import PdfReader

from billecta_sync.billecta import BillectaClient
from billecta_sync.lime import LimeClient
from billecta_sync.lime.values import option_key
from cli.main import main as cli
from devstack.stack import Stack
from tests.e2e.support import settle, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(stack_starter: Callable[..., Stack], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Quick retries, so "Billecta down" gives up within the test; a long wait so answers come back in time.
    # The sandbox sends Billecta's documented webhook data objects (InvoiceActionView, IncomingPaymentView...)
    # here, where the other end-to-end modules use its older body shapes.
    running = stack_starter(tmp_path_factory.mktemp("stack-collection"), database_url=None, redis_index=3,
                            extra_env={"WORKER_MAX_RETRIES": "1", "WORKER_RETRY_BACKOFF_MAX_S": "1",
                                       "GATEWAY_COMMAND_WAIT_S": "20", "BILLECTA_SANDBOX_WEBHOOK_STYLE": "documented"})
    try:
        yield running
    finally:
        running.stop()


def call(stack: Stack, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{stack.gateway_url}{stack.config.prefix}{path}",
                            headers={"X-API-Key": stack.config.commands_key, **kwargs.pop("headers", {})},
                            timeout=60, **kwargs)


def billecta_requests(stack: Stack, method: str, fragment: str) -> int:
    entries = requests.get(f"{stack.billecta_admin_url}/requests", timeout=10).json()["requests"]
    return sum(1 for e in entries if e["method"] == method and fragment in e["path"])


def knobs(stack: Stack, **values: Any) -> None:
    resp = requests.post(f"{stack.billecta_admin_url}/config", json={"knobs": values}, timeout=10)
    assert resp.status_code == 200, resp.text


class Book:
    """A creditor in Lime and Billecta, and attested invoices made in Billecta that reach Lime by webhook."""

    def __init__(self, stack: Stack, billecta: BillectaClient, lime: LimeClient) -> None:
        self.stack, self.billecta, self.lime = stack, billecta, lime
        tag = uuid.uuid4().hex[:6]
        self.creditor = billecta.create_creditor({"Name": f"Kontroll AB {tag}", "OrgNo": "556000-0003"})
        lime.create("creditor", {"name": f"Kontroll AB {tag}", "creditorpublicid": self.creditor})
        self.debtor = billecta.create_debtor({"CreditorPublicId": self.creditor, "Name": f"Kund {tag}",
                                              "OrgNo": "556123-4567", "DebtorType": "Company",
                                              "Email": "kund@example.se", "CountryCode": "SE"})

    def invoice(self, ore: int = 250000) -> tuple[str, dict[str, Any]]:
        entry = {"CreditorPublicId": self.creditor, "DebtorPublicId": self.debtor, "DeliveryMethod": "Email",
                 "Records": [{"RecordType": "Standard", "ArticleDescription": "Konsult", "Quantity": 1, "VAT": 0,
                              "UnitPrice": {"CurrencyCode": "SEK", "Value": ore}}]}
        action = self.billecta.create_invoice(entry)
        self.billecta.attest_invoice(action)
        found = wait_for(lambda: self.find("invoice", action), f"the Lime invoice of {action}")
        settle(self.stack)
        return action, found

    def find(self, limetype: str, action: str) -> dict[str, Any] | None:
        rows = list(self.lime.query(limetype, ["_id", "actionpublicid"],
                                    filter={"key": "actionpublicid", "op": "=", "exp": action}))
        return self.lime.get(limetype, rows[0]["_id"]) if rows else None


@pytest.fixture(scope="module")
def book(stack: Stack, billecta: BillectaClient, lime: LimeClient) -> Book:
    return Book(stack, billecta, lime)


def test_dispute_and_cancel_dispute_show_in_lime_and_twice_acts_once(stack: Stack, book: Book) -> None:
    action, invoice = book.invoice()
    resp = call(stack, "PUT", "/billecta/dispute-invoice", json={"invoice_id": invoice["_id"]})
    assert resp.status_code == 200, resp.text
    assert resp.content == b""
    assert book.lime.get("invoice", invoice["_id"])["isdisputed"] is True
    again = call(stack, "PUT", "/billecta/dispute-invoice", json={"invoice_id": invoice["_id"]})
    assert again.status_code == 200, again.text
    assert billecta_requests(stack, "PUT", f"/invoice/dispute/{action}") == 1
    undo = call(stack, "PUT", "/billecta/cancel-disputed-invoice", json={"invoice_id": invoice["_id"]})
    assert undo.status_code == 200, undo.text
    assert book.lime.get("invoice", invoice["_id"])["isdisputed"] is False


def test_pause_resume_and_next_event_postponed(stack: Stack, book: Book) -> None:
    action, invoice = book.invoice()
    assert call(stack, "PUT", "/billecta/pause-invoice", json={"invoice_id": invoice["_id"]}).status_code == 200
    assert book.lime.get("invoice", invoice["_id"])["ispaused"] is True
    assert call(stack, "PUT", "/billecta/pause-invoice", json={"invoice_id": invoice["_id"]}).status_code == 200
    assert billecta_requests(stack, "PUT", f"/invoice/pause/{action}") == 1
    assert call(stack, "PUT", "/billecta/resume-paused-invoice",
                json={"invoice_id": invoice["_id"]}).status_code == 200
    assert book.lime.get("invoice", invoice["_id"])["ispaused"] is False

    before = call(stack, "GET", f"/billecta/get-invoice-next-event/{invoice['_id']}")
    assert before.status_code == 200, before.text
    first = before.json()["next_event_date"]
    assert first and len(first) == 10
    key = {"Idempotency-Key": uuid.uuid4().hex}
    moved = call(stack, "PUT", "/billecta/invoice-postpone-next-event/",
                 json={"invoice_id": invoice["_id"], "postpone_days": 7}, headers=key)
    assert moved.status_code == 200, moved.text
    # The same request again (a retry with its key) does not postpone a second time.
    assert call(stack, "PUT", "/billecta/invoice-postpone-next-event/",
                json={"invoice_id": invoice["_id"], "postpone_days": 7}, headers=key).status_code == 200
    after = call(stack, "GET", f"/billecta/get-invoice-next-event/{invoice['_id']}").json()["next_event_date"]
    assert date.fromisoformat(after) == date.fromisoformat(first) + timedelta(days=7)
    assert book.lime.get("invoice", invoice["_id"])["nexteventdate"] == after


@pytest.mark.parametrize("body, field", [
    ({"invoice_id": 1, "postpone_days": 0}, "postpone_days"),
    ({"invoice_id": 1, "postpone_days": -3}, "postpone_days"),
    ({"invoice_id": 1, "postpone_days": "7"}, "postpone_days"),
    ({"postpone_days": 7}, "invoice_id"),
])
def test_bad_postpone_is_400_naming_the_field_and_sends_nothing(stack: Stack, body: dict[str, Any],
                                                                field: str) -> None:
    before = billecta_requests(stack, "PUT", "/invoice/postpone/")
    resp = call(stack, "PUT", "/billecta/invoice-postpone-next-event/", json=body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["field"] == field and resp.json()["error_message"]
    assert billecta_requests(stack, "PUT", "/invoice/postpone/") == before


def test_unknown_invoice_is_404_with_the_seed_error_message(stack: Stack) -> None:
    resp = call(stack, "PUT", "/billecta/pause-invoice", json={"invoice_id": 999999999})
    assert resp.status_code == 404
    assert resp.json()["error_message"] == "Invoice not found or missing Billecta invoice ID"
    assert call(stack, "GET", "/billecta/get-invoice-next-event/999999999").status_code == 404


def test_reminder_invoice_once_per_click_and_in_lime(stack: Stack, book: Book) -> None:
    action, invoice = book.invoice()
    body = {"invoice_action_public_id": action, "delivery_method": "email", "reminder_fee": 60.0,
            "currency_code": "SEK", "payment_terms_in_days": 10}
    first = call(stack, "POST", "/billecta/create-reminder-invoice", json=body)
    assert first.status_code == 200, first.text
    assert first.json() == {}
    double = call(stack, "POST", "/billecta/create-reminder-invoice", json=body)
    assert double.status_code == 200, double.text
    assert billecta_requests(stack, "POST", "/invoice/sendreminderinvoice") == 1
    settle(stack)
    reminders = list(book.lime.query("invoice", ["_id", "reminderof", "reminderfee"],
                                     filter={"key": "reminderof", "op": "=", "exp": invoice["_id"]}))
    assert len(reminders) == 1 and float(reminders[0]["reminderfee"]) == 60.0


def test_send_to_debt_collection_once_then_the_case_controls(stack: Stack, book: Book) -> None:
    action, invoice = book.invoice()
    body = {"invoice_id": invoice["_id"], "delivery_method": "email", "our_reference": "COLL-1",
            "reason_description": "Förfallen 60 dagar", "reason_for_higher_interest": ""}
    sent = call(stack, "POST", "/billecta/send-to-debt-collection", json=body)
    assert sent.status_code == 200, sent.text
    refused = call(stack, "POST", "/billecta/send-to-debt-collection", json=body)
    assert refused.status_code == 409 and "already in debt collection" in refused.json()["error_message"]
    assert billecta_requests(stack, "POST", "/debtcollection/actionfrominvoice") == 1
    assert option_key(book.lime.get("invoice", invoice["_id"])["invoicestatus"]) == "debtcollection"
    case_id = book.billecta.get_invoice(action)["DebtCollectionActionPublicId"]
    case = wait_for(lambda: book.find("debtcollection", case_id), "the Lime debt collection case")

    next_event = call(stack, "GET", f"/billecta/get-debtcollection-next-event/{case['_id']}")
    assert next_event.status_code == 200 and "next_event_date" in next_event.json()
    assert call(stack, "PUT", "/billecta/postpone-debtcollection-next-event/",
                json={"debtcollection_id": case["_id"], "postpone_days": 14}).status_code == 200
    bad = call(stack, "PUT", "/billecta/send-to-bailiff", json={"debtcollection_id": case["_id"],
                                                               "bailiff_option": "sheriff"})
    assert bad.status_code == 400 and bad.json()["field"] == "bailiff_option"
    assert call(stack, "PUT", "/billecta/send-to-long-term-surveillance",
                json={"debtcollection_id": case["_id"]}).status_code == 200
    assert book.lime.get("debtcollection", case["_id"])["stage"] == "LongTermSurveilance"
    assert call(stack, "PUT", "/billecta/cancel-debtcollection",
                json={"debtcollection_id": case["_id"]}).status_code == 200
    assert book.lime.get("debtcollection", case["_id"])["stage"] == "Cancelled"
    assert call(stack, "PUT", "/billecta/cancel-debtcollection",
                json={"debtcollection_id": case["_id"]}).status_code == 200  # already cancelled: done
    assert billecta_requests(stack, "PUT", f"/debtcollection/cancel/{case_id}") == 1


def test_invoice_pdf_is_fetched_and_saved_on_the_lime_invoice(stack: Stack, book: Book) -> None:
    _action, invoice = book.invoice(123400)
    fetched = call(stack, "GET", f"/fetch-invoice-pdf/{invoice['_id']}/")
    assert fetched.status_code == 200, fetched.text
    pdf = base64.b64decode(fetched.text)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 1
    number = book.lime.get("invoice", invoice["_id"])["invoicenumber"]
    assert number in reader.pages[0].extract_text()

    saved = call(stack, "POST", "/fetch-and-save-invoice-pdf/", json={"invoice_id": invoice["_id"]})
    assert saved.status_code == 200, saved.text
    file_id = book.lime.get("invoice", invoice["_id"])["invoice_pdf"]
    content, content_type = book.lime.download_file(int(file_id))
    assert content_type.startswith("application/pdf") and content == pdf
    assert book.lime.file_info(int(file_id))["filename"] == f"invoice-{number}.pdf"


def test_billecta_down_is_retried_then_a_clear_error_on_the_invoice(stack: Stack, book: Book) -> None:
    _action, invoice = book.invoice()
    knobs(stack, error_rate=1.0)
    try:
        resp = call(stack, "PUT", "/billecta/pause-invoice", json={"invoice_id": invoice["_id"]})
        assert resp.status_code in (202, 502), resp.text
        stored = wait_for(lambda: (lambda i: i if i["billecta_error_message"] else None)(
            book.lime.get("invoice", invoice["_id"])), "the error on the Lime invoice")
        assert "503" in stored["billecta_error_message"] or "Server" in stored["billecta_error_message"]
    finally:
        knobs(stack, error_rate=0.0)
    assert call(stack, "PUT", "/billecta/pause-invoice", json={"invoice_id": invoice["_id"]}).status_code == 200
    after = book.lime.get("invoice", invoice["_id"])
    assert after["ispaused"] is True and after["billecta_error_message"] == ""


def test_actions_billecta_does_not_allow_are_409_on_the_invoice_and_send_nothing(stack: Stack,
                                                                                  book: Book) -> None:
    action, invoice = book.invoice(50000)
    # Resuming an invoice that is not paused is already done: 200, and nothing is sent.
    resp = call(stack, "PUT", "/billecta/resume-paused-invoice", json={"invoice_id": invoice["_id"]})
    assert resp.status_code == 200, resp.text
    assert billecta_requests(stack, "PUT", f"/invoice/resume/{action}") == 0
    # A paid invoice cannot be postponed: Billecta's CanPostpone is false; refused before any call.
    paid = requests.post(f"{stack.billecta_admin_url}/invoices/{action}/payments",
                         json={"amount": "500.00", "payment_mean_code": "BG"}, timeout=10)
    assert paid.status_code == 200, paid.text
    settle(stack)
    refused = call(stack, "PUT", "/billecta/invoice-postpone-next-event/",
                   json={"invoice_id": invoice["_id"], "postpone_days": 3})
    assert refused.status_code == 409, refused.text
    assert "CanPostpone" in refused.json()["error_message"]
    assert "CanPostpone" in book.lime.get("invoice", invoice["_id"])["billecta_error_message"]
    assert billecta_requests(stack, "PUT", f"/invoice/postpone/{action}") == 0


def test_update_invoice_from_billecta_and_the_backfilled_fields(stack: Stack, book: Book) -> None:
    action, invoice = book.invoice(30000)
    paid = requests.post(f"{stack.billecta_admin_url}/invoices/{action}/payments",
                         json={"amount": "300.00", "payment_mean_code": "BG"}, timeout=10)
    assert paid.status_code == 200, paid.text
    settle(stack)
    resp = call(stack, "PUT", "/billecta/update-invoice-from-billecta", json={"invoice_id": invoice["_id"]})
    assert resp.status_code == 200, resp.text
    stored = book.lime.get("invoice", invoice["_id"])
    view = book.billecta.get_invoice(action)
    assert option_key(stored["invoicestatus"]) == "paid"
    assert stored["invoice_sent_date"] == (view["State"].get("InvoiceSentDate") or "")[:10]
    assert stored["paid_date"] == (view["State"].get("ClosedDate") or "")[:10] and stored["paid_date"]
    assert float(stored["invoice_balance"]) == 0.0


def test_backfill_fills_the_new_invoice_fields_of_invoices_already_in_lime(stack: Stack, book: Book) -> None:
    action, invoice = book.invoice(40000)
    # An invoice as an older version left it: none of the fields added since.
    book.lime.update("invoice", invoice["_id"], {"invoice_sent_date": None, "invoice_balance": None})
    result = CliRunner().invoke(cli, ["backfill", "invoices", "--timeout", "120"], env=stack.env())
    assert result.exit_code == 0, result.output
    assert " ok, 0 errors of " in result.output
    stored = book.lime.get("invoice", invoice["_id"])
    sent = book.billecta.get_invoice(action)["State"].get("InvoiceSentDate")
    assert stored["invoice_sent_date"] == (sent or "")[:10] and stored["invoice_sent_date"]
    assert float(stored["invoice_balance"]) == 400.0


def test_the_webhooks_here_are_billectas_documented_data_objects_and_were_applied(stack: Stack, book: Book) -> None:
    action, _ = book.invoice(20000)
    headers = {"X-API-Key": stack.config.operator_key}
    rows = requests.get(f"{stack.gateway_url}{stack.config.prefix}/operator/inbox",
                        params={"source": "billecta", "limit": 200}, headers=headers, timeout=10).json()["items"]
    mine = [r for r in rows if r["object_key"] == f"action:{action}"]
    # InvoiceActionCreated has no handler (ignored, by design); every event that has one was applied.
    assert {r["event_type"]: r["status"] for r in mine if r["status"] != "ignored"} == {
        "InvoiceActionAttested": "processed", "InvoiceActionStateChanged": "processed"}
    applied = next(r for r in mine if r["event_type"] == "InvoiceActionAttested")
    detail = requests.get(f"{stack.gateway_url}{stack.config.prefix}/operator/inbox/{applied['id']}",
                          headers=headers, timeout=10).json()
    body = json.loads(detail["body"])
    assert set(body) == {"WebhookTriggerType", "Data", "SecondValue"}
    assert body["Data"]["ActionPublicId"] == action and "State" in body["Data"]  # an InvoiceActionView
