"""The Billecta sandbox's collection controls over real HTTP: pause, resume, dispute, undispute and postpone an
invoice, send a reminder, send it to debt collection and act on the case; the invoice PDF through the files
API; and the documented webhook body style with its data objects.

Every answer is checked against its view model, every refusal is a Billecta-style 400 that leaves the view as
it was and sends no webhook."""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import requests
from flask import Flask, request
from pypdf import PdfReader

from sandbox.billecta import contract
from sandbox.billecta.app import DEFAULT_AUTHORIZATION, SUPPORTED_WEBHOOK_TRIGGERS, BillectaSandboxConfig, create_app
from sandbox.common import serve_in_thread
from tests.billecta_day import billecta_today

AUTH = {"Authorization": DEFAULT_AUTHORIZATION}
UNKNOWN_ACTION = "1"
UNKNOWN_FILE = "00000000-0000-0000-0000-000000000001"
INVOICE_CONTROLS = ("pause", "resume", "dispute", "undispute", "postpone")
CASE_CONTROLS = ("postpone", "cancel", "SendToLongTermSurveillance", "SendToBailiff", "SendToAssistanceWithBailiff")


class Hook:
    """A webhook receiver that keeps every body."""

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

    def triggers(self) -> list[str]:
        with self.lock:
            return [b.get("WebhookTriggerType") or b.get("Type") for b in self.bodies]

    def events(self, trigger: str) -> list[dict[str, Any]]:
        with self.lock:
            return [b for b in self.bodies if b.get("WebhookTriggerType") == trigger]


class Sandbox:
    def __init__(self, base: str) -> None:
        self.base = base

    def call(self, method: str, path: str, view: str | None = None, expect: int = 200, **kw: Any) -> Any:
        resp = requests.request(method, self.base + path, headers=AUTH, timeout=10, **kw)
        assert resp.status_code == expect, f"{method} {path}: {resp.status_code} {resp.text}"
        if resp.status_code >= 400:
            body = resp.json()
            assert set(body) == {"Message", "ExternalErrorCode"} and body["Message"], body
            return body
        body = resp.json() if resp.content else None
        if view:
            assert contract.validate(view, body) == [], contract.validate(view, body)
        return body

    def refused(self, method: str, path: str, expect: int = 400, **kw: Any) -> str:
        return str(self.call(method, path, expect=expect, **kw)["Message"])

    def admin(self, path: str, expect: int = 200, method: str = "POST", **body: Any) -> Any:
        resp = requests.request(method, f"{self.base}/_sandbox{path}", json=body, timeout=10)
        assert resp.status_code == expect, resp.text
        return resp.json()

    def idle(self) -> None:
        assert self.admin("/webhooks/wait-idle?timeout=10")["idle"] is True

    def invoice(self, action: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/v1/invoice/action/{action}", view="InvoiceActionView"))

    def case(self, case_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/v1/debtcollection/action/{case_id}", view="DebtCollectionActionView"))

    def new_invoice(self, ore: int = 100000, *, sent: bool = True, attest: bool = True,
                    due: date | None = None) -> tuple[str, str, str]:
        creditor = self.call("POST", "/v1/creditors/creditor", expect=201, json={"Name": "Acme AB"})["PublicId"]
        debtor = self.call("POST", "/v1/debtors/debtor", expect=201,
                           json={"CreditorPublicId": creditor, "Name": "Kund Åkesson AB", "Address": "Gatan 1",
                                 "ZipCode": "11122", "City": "Stockholm"})["PublicId"]
        entry: dict[str, Any] = {
            "CreditorPublicId": creditor, "DebtorPublicId": debtor, "DeliveryMethod": "Email",
            "Records": [{"ArticleDescription": "Hyra", "Quantity": 1, "VAT": 25, "RecordType": "Standard",
                         "UnitPrice": {"CurrencyCode": "SEK", "Value": ore}}],
        }
        if due is not None:
            entry.update(InvoiceDate=(due - timedelta(days=30)).isoformat(), DueDate=due.isoformat())
        action = self.call("POST", "/v1/invoice/action", expect=201, json=entry)["PublicId"]
        if attest:
            self.call("PUT", f"/v1/invoice/attest/{action}")
        if sent:
            self.admin(f"/invoices/{action}/advance", stage="InvoiceSent")
        return creditor, debtor, action


@pytest.fixture
def env() -> Iterator[tuple[Sandbox, Hook]]:
    hook = Hook()
    config = BillectaSandboxConfig(auto_send_delay_s=-1, webhook_backoff_s=0.01, webhook_url=hook.url)
    server, base = serve_in_thread(create_app(config))
    yield Sandbox(base), hook
    for s in (server, hook.server):
        threading.Thread(target=lambda s=s: (s.shutdown(), s.server_close()), daemon=True).start()


def _day(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value[:10])


def _event_types(view: dict[str, Any]) -> list[str]:
    return [e["EventType"] for e in view["Events"]]


def _unchanged(sb: Sandbox, hook: Hook, action: str, method: str, path: str, **kw: Any) -> str:
    """A refused call: a 400 that changes neither the invoice's view nor sends a webhook."""
    sb.idle()
    before, sent = sb.invoice(action), len(hook.bodies)
    message = sb.refused(method, path, **kw)
    sb.idle()
    assert sb.invoice(action) == before
    assert len(hook.bodies) == sent
    return message


# ---- invoice controls -----------------------------------------------------------------------------------


def test_pause_and_resume_follow_the_flags(env: tuple[Sandbox, Hook]) -> None:
    sb, hook = env
    creditor, _debtor, action = sb.new_invoice()
    view = sb.invoice(action)
    assert (view["CanPause"], view["CanResume"], view["State"]["IsPaused"]) == (True, False, False)
    sb.idle()
    changes = len(hook.events("InvoiceActionStateChanged"))

    assert sb.call("PUT", f"/v1/invoice/pause/{action}") is None
    paused = sb.invoice(action)
    assert paused["State"]["IsPaused"] is True
    assert (paused["CanPause"], paused["CanResume"]) == (False, True)
    assert _event_types(paused)[-1] == "Paused"
    row = sb.call("GET", f"/v1/invoice/open/{creditor}", view="InvoiceActionSubsView")[0]
    assert row["IsPaused"] is True
    message = _unchanged(sb, hook, action, "PUT", f"/v1/invoice/pause/{action}")
    assert "already paused" in message and "CanPause" in message

    sb.call("PUT", f"/v1/invoice/resume/{action}")
    resumed = sb.invoice(action)
    assert resumed["State"]["IsPaused"] is False and (resumed["CanPause"], resumed["CanResume"]) == (True, False)
    assert _event_types(resumed)[-2:] == ["Paused", "Resumed"]
    assert "not paused" in _unchanged(sb, hook, action, "PUT", f"/v1/invoice/resume/{action}")
    sb.idle()
    assert len(hook.events("InvoiceActionStateChanged")) == changes + 2
    assert {e["ActionPublicId"] for e in hook.events("InvoiceActionStateChanged")} == {action}


def test_dispute_and_undispute_set_and_clear_the_disputed_date(env: tuple[Sandbox, Hook]) -> None:
    sb, hook = env
    creditor, _debtor, action = sb.new_invoice()
    assert (sb.invoice(action)["CanDispute"], sb.invoice(action)["CanUnDispute"]) == (True, False)
    sb.idle()
    changes = len(hook.events("InvoiceActionStateChanged"))

    sb.call("PUT", f"/v1/invoice/dispute/{action}")
    disputed = sb.invoice(action)
    assert contract.parse_datetime(disputed["State"]["DisputedDate"]) is not None
    assert (disputed["CanDispute"], disputed["CanUnDispute"]) == (False, True)
    assert _event_types(disputed)[-1] == "Disputed"
    assert sb.call("GET", f"/v1/invoice/open/{creditor}")[0]["IsDisputed"] is True
    assert "already disputed" in _unchanged(sb, hook, action, "PUT", f"/v1/invoice/dispute/{action}")

    sb.call("PUT", f"/v1/invoice/undispute/{action}")
    cleared = sb.invoice(action)
    assert cleared["State"]["DisputedDate"] is None and _event_types(cleared)[-1] == "UnDisputed"
    assert (cleared["CanDispute"], cleared["CanUnDispute"]) == (True, False)
    assert "not disputed" in _unchanged(sb, hook, action, "PUT", f"/v1/invoice/undispute/{action}")
    sb.idle()
    assert len(hook.events("InvoiceActionStateChanged")) == changes + 2


def test_postpone_moves_the_next_event_by_whole_positive_days(env: tuple[Sandbox, Hook]) -> None:
    sb, hook = env
    _creditor, _debtor, action = sb.new_invoice()
    state = sb.invoice(action)["State"]
    due = _day(sb.invoice(action)["DueDate"])
    assert state["NextEvent"] == "InvoiceDue" and _day(state["NextEventDate"]) == due
    assert sb.invoice(action)["CanPostpone"] is True
    sb.idle()
    changes = len(hook.events("InvoiceActionStateChanged"))

    sb.call("PUT", f"/v1/invoice/postpone/{action}", params={"days": 7})
    sb.call("PUT", f"/v1/invoice/postpone/{action}", params={"Days": "3"})  # bound case-insensitively
    moved = sb.invoice(action)
    assert due is not None and _day(moved["State"]["NextEventDate"]) == due + timedelta(days=10)
    assert moved["DueDate"] == sb.invoice(action)["DueDate"]  # the debtor's due date stays
    assert _event_types(moved)[-1] == "Updated"
    for days in ("0", "-3", "1.5", "abc", ""):
        assert "days" in _unchanged(sb, hook, action, "PUT", f"/v1/invoice/postpone/{action}", params={"days": days})
    assert "days" in _unchanged(sb, hook, action, "PUT", f"/v1/invoice/postpone/{action}")
    sb.idle()
    assert len(hook.events("InvoiceActionStateChanged")) == changes + 2


def test_schedule_after_due_and_before_sending(env: tuple[Sandbox, Hook]) -> None:
    sb, hook = env
    due = billecta_today() - timedelta(days=40)
    _c, _d, overdue = sb.new_invoice(due=due)
    state = sb.invoice(overdue)["State"]
    assert (state["NextEvent"], _day(state["NextEventDate"])) == ("WillSendReminderInvoice", due + timedelta(days=10))

    _c, _d, unsent = sb.new_invoice(sent=False)
    view = sb.invoice(unsent)
    assert view["State"]["NextEventDate"] is None and view["CanPostpone"] is False
    assert "no next event" in _unchanged(sb, hook, unsent, "PUT", f"/v1/invoice/postpone/{unsent}",
                                         params={"days": 5})
    assert view["CanSendManualReminderInvoice"] is False and view["CanSendToDebtCollection"] is False
    assert view["CanPause"] is True  # pausing needs no sent invoice


def test_closed_draft_and_unknown_invoices_are_refused(env: tuple[Sandbox, Hook]) -> None:
    sb, hook = env
    _c, _d, action = sb.new_invoice()
    sb.admin(f"/invoices/{action}/advance", stage="Completed")
    closed = sb.invoice(action)
    flags = ("CanPause", "CanResume", "CanDispute", "CanUnDispute", "CanPostpone", "CanSendManualReminderInvoice",
             "CanSendToDebtCollection")
    assert not any(closed[f] for f in flags)
    for control in INVOICE_CONTROLS:
        message = _unchanged(sb, hook, action, "PUT", f"/v1/invoice/{control}/{action}", params={"days": 1})
        assert "closed (Stage Completed)" in message
    assert "closed" in _unchanged(sb, hook, action, "POST", "/v1/invoice/sendreminderinvoice",
                                  json={"InvoiceActionPublicId": action})
    assert "closed" in _unchanged(sb, hook, action, "POST", "/v1/debtcollection/actionfrominvoice",
                                  json={"SourcePublicId": action})

    _c, _d, draft = sb.new_invoice(attest=False, sent=False)
    for control in INVOICE_CONTROLS:
        assert "not attested" in _unchanged(sb, hook, draft, "PUT", f"/v1/invoice/{control}/{draft}",
                                            params={"days": 1})

    for control in INVOICE_CONTROLS:
        sb.refused("PUT", f"/v1/invoice/{control}/{UNKNOWN_ACTION}", expect=404, params={"days": 1})
    sb.refused("POST", "/v1/invoice/sendreminderinvoice", expect=404, json={"InvoiceActionPublicId": UNKNOWN_ACTION})
    sb.refused("POST", "/v1/debtcollection/actionfrominvoice", expect=404, json={"SourcePublicId": UNKNOWN_ACTION})
    # An unknown invoice is a 404 even when days is bad too.
    sb.refused("PUT", f"/v1/invoice/postpone/{UNKNOWN_ACTION}", expect=404, params={"days": 0})


# ---- reminders ------------------------------------------------------------------------------------------


def test_send_reminder_invoice_creates_and_links_a_reminder(env: tuple[Sandbox, Hook]) -> None:
    sb, hook = env
    _creditor, _debtor, action = sb.new_invoice(50000)
    source = sb.invoice(action)
    assert source["CanSendManualReminderInvoice"] is True
    body = {"InvoiceActionPublicId": action, "DeliveryMethod": "Mail", "PaymentTermsInDays": 14,
            "ReminderFee": {"CurrencyCode": "SEK", "Value": 7500}}
    created = sb.call("POST", "/v1/invoice/sendreminderinvoice", view="CreatedView", expect=201, json=body)
    reminder_id = created["PublicId"]

    invoice = sb.invoice(action)
    assert invoice["ReminderInvoiceActionPublicId"] == reminder_id
    assert invoice["State"]["Stage"] == "ReminderInvoiceSent" and _event_types(invoice)[-1] == "ReminderInvoiceSent"
    reminder = sb.call("GET", f"/v1/invoice/reminderinvoice/{reminder_id}", view="ReminderInvoiceActionView")
    assert reminder["SourceActionPublicId"] == action
    assert reminder["ReminderFee"] == {"CurrencyCode": "SEK", "Value": 7500, "ValueForView": 75.0}
    [document] = reminder["ReminderInvoices"]
    assert document["PaymentTermsInDays"] == 14
    assert document["InvoiceNumber"] != source["InvoiceNumber"] and document["OCR"] != source["Invoices"][0]["OCR"]
    assert document["InvoicedAmount"]["Value"] == 62500 + 7500
    # The reminder's due date is the invoice's next event now.
    assert (invoice["State"]["NextEvent"], invoice["State"]["NextEventDate"]) == ("ReminderDue", document["DueDate"])
    raw = sb.admin(f"/state/invoices/{action}", method="GET")
    assert raw["reminder_due"] == document["DueDate"][:10]

    # The defaults: the invoice's delivery method, 60.00 and 10 days; a second reminder is linked instead.
    second = sb.call("POST", "/v1/invoice/sendreminderinvoice", expect=201,
                     json={"InvoiceActionPublicId": action})["PublicId"]
    assert sb.invoice(action)["ReminderInvoiceActionPublicId"] == second
    again = sb.call("GET", f"/v1/invoice/reminderinvoice/{second}")
    assert again["ReminderFee"]["Value"] == 6000 and again["ReminderInvoices"][0]["PaymentTermsInDays"] == 10
    sb.idle()
    assert [e["ReminderInvoiceActionPublicId"] for e in hook.events("ReminderInvoiceActionCreated")] == [
        reminder_id, second]
    assert {e["ActionPublicId"] for e in hook.events("ReminderInvoiceActionCreated")} == {action}


def test_send_reminder_invoice_refusals(env: tuple[Sandbox, Hook]) -> None:
    sb, hook = env
    _c, _d, action = sb.new_invoice()
    path = "/v1/invoice/sendreminderinvoice"
    assert "InvoiceActionPublicId" in _unchanged(sb, hook, action, "POST", path, json={"PaymentTermsInDays": 5})
    assert "EUR" in _unchanged(sb, hook, action, "POST", path, json={
        "InvoiceActionPublicId": action, "ReminderFee": {"CurrencyCode": "EUR", "Value": 100}})
    assert "negative" in _unchanged(sb, hook, action, "POST", path,
                                    json={"InvoiceActionPublicId": action, "PaymentTermsInDays": -1})
    assert "DeliveryMethod" in _unchanged(sb, hook, action, "POST", path,
                                          json={"InvoiceActionPublicId": action, "DeliveryMethod": "Pigeon"})
    _c, _d, unsent = sb.new_invoice(sent=False)
    message = _unchanged(sb, hook, unsent, "POST", path, json={"InvoiceActionPublicId": unsent})
    assert "not been sent" in message and "CanSendManualReminderInvoice" in message


# ---- debt collection ------------------------------------------------------------------------------------


def test_send_to_debt_collection_opens_one_case_for_the_remaining_amount(env: tuple[Sandbox, Hook]) -> None:
    sb, hook = env
    _creditor, _debtor, action = sb.new_invoice(80000)  # 1000.00 with VAT
    sb.admin(f"/invoices/{action}/payments", amount="400.00")
    assert sb.invoice(action)["CanSendToDebtCollection"] is True
    sb.idle()
    changes = len(hook.events("InvoiceActionStateChanged"))
    body = {"SourcePublicId": action, "DeliveryMethod": "Mail", "OurReference": "Säljare",
            "ReasonDescription": "Obetald hyra", "PaymentTermsInDays": 12, "Eviction": False}
    case_id = sb.call("POST", "/v1/debtcollection/actionfrominvoice", view="CreatedView", expect=201,
                      json=body)["PublicId"]

    invoice = sb.invoice(action)
    assert invoice["DebtCollectionActionPublicId"] == case_id
    assert invoice["State"]["Stage"] == "SentToDebtCollection" and invoice["State"]["SentToDebtCollectionDate"]
    assert invoice["State"]["NextEventDate"] is None  # the case owns the schedule now
    assert not any(invoice[f] for f in ("CanPause", "CanSendManualReminderInvoice", "CanSendToDebtCollection",
                                        "CanPostpone"))
    assert invoice["CanDispute"] is True and invoice["CanRegisterPayment"] is True
    case = sb.case(case_id)
    assert case["State"]["Stage"] == "ReminderInvoiceSent" and case["InvoiceSourcePublicId"] == action
    assert case["DebtAmount"]["Value"] == 60000 and case["OriginalAmount"]["Value"] == 60000
    assert case["CurrentAmount"]["Value"] == 60000 + case["FeeAmount"]["Value"]
    assert (case["DeliveryMethod"], case["OurReference"], case["ReasonDescription"]) == (
        "Mail", "Säljare", "Obetald hyra")
    created = _day(case["Created"])  # the sandbox's day (Stockholm), which may not be this machine's
    assert created is not None and _day(case["State"]["NextEventDate"]) == created + timedelta(days=12)
    assert case["OriginalInvoiceFile"] == invoice["Invoices"][0]["InvoiceFile"]
    assert (case["CanCancel"], case["CanPostpone"], case["CanSendToLongTermSurveilance"], case["CanSendToBailiff"]) \
        == (True, True, True, True)
    sb.idle()
    assert [e["ActionPublicId"] for e in hook.events("DebtCollectionActionStateChanged")] == [case_id]
    assert len(hook.events("InvoiceActionStateChanged")) == changes + 1

    message = _unchanged(sb, hook, action, "POST", "/v1/debtcollection/actionfrominvoice", json=body)
    assert "already in debt collection" in message
    assert sb.case(case_id) == case
    assert "SourcePublicId" in _unchanged(sb, hook, action, "POST", "/v1/debtcollection/actionfrominvoice",
                                          json={"DeliveryMethod": "Email"})
    # The reminder the admin process sends now leaves the invoice in debt collection.
    sb.admin(f"/invoices/{action}/reminder")
    assert sb.invoice(action)["State"]["Stage"] == "SentToDebtCollection"


def _case(sb: Sandbox) -> str:
    _c, _d, action = sb.new_invoice()
    return str(sb.call("POST", "/v1/debtcollection/actionfrominvoice", expect=201,
                       json={"SourcePublicId": action})["PublicId"])


def _case_unchanged(sb: Sandbox, hook: Hook, case_id: str, path: str, **kw: Any) -> str:
    sb.idle()
    before, sent = sb.case(case_id), len(hook.bodies)
    message = sb.refused("PUT", path, **kw)
    sb.idle()
    assert sb.case(case_id) == before and len(hook.bodies) == sent
    return message


def test_debt_collection_controls_move_the_case_through_its_stages(env: tuple[Sandbox, Hook]) -> None:
    sb, hook = env
    case_id = _case(sb)
    base = "/v1/debtcollection"
    first = _day(sb.case(case_id)["State"]["NextEventDate"])
    sb.call("PUT", f"{base}/postpone/{case_id}", params={"days": 5})
    assert first is not None and _day(sb.case(case_id)["State"]["NextEventDate"]) == first + timedelta(days=5)
    for days in ("0", "-1", "x"):
        assert "days" in _case_unchanged(sb, hook, case_id, f"{base}/postpone/{case_id}", params={"days": days})

    sb.call("PUT", f"{base}/SendToLongTermSurveillance/{case_id}")
    watched = sb.case(case_id)
    assert watched["State"]["Stage"] == "LongTermSurveilance" and watched["State"]["NextEventDate"] is None
    assert (watched["CanSendToLongTermSurveilance"], watched["CanPostpone"], watched["CanSendToBailiff"]) == (
        False, False, True)
    again = _case_unchanged(sb, hook, case_id, f"{base}/SendToLongTermSurveillance/{case_id}")
    assert "already under long-term surveillance" in again
    assert "no next event" in _case_unchanged(sb, hook, case_id, f"{base}/postpone/{case_id}", params={"days": 1})

    sb.call("PUT", f"{base}/SendToBailiff/{case_id}")
    at_bailiff = sb.case(case_id)
    assert at_bailiff["State"]["Stage"] == "SentToBailiff" and at_bailiff["State"]["SentToBailiffDate"]
    assert at_bailiff["CanSendToBailiff"] is False and at_bailiff["CanSendToLongTermSurveilance"] is True
    assert "bailiff" in _case_unchanged(sb, hook, case_id, f"{base}/SendToBailiff/{case_id}")
    assert "bailiff" in _case_unchanged(sb, hook, case_id, f"{base}/SendToAssistanceWithBailiff/{case_id}")

    sb.call("PUT", f"{base}/cancel/{case_id}")
    cancelled = sb.case(case_id)
    assert cancelled["State"]["Stage"] == "Cancelled" and cancelled["State"]["ClosedDate"]
    assert cancelled["CurrentAmount"]["Value"] == 0
    assert not any(cancelled[f] for f in ("CanCancel", "CanPostpone", "CanSendToBailiff",
                                          "CanSendToLongTermSurveilance"))
    for control in CASE_CONTROLS:
        message = _case_unchanged(sb, hook, case_id, f"{base}/{control}/{case_id}", params={"days": 1})
        assert "closed (Stage Cancelled)" in message
    assert [e["EventType"] for e in cancelled["Events"]] == [
        "Created", "Updated", "LongTermSurveilance", "SentToBailiff", "Cancelled"]
    sb.idle()
    assert len(hook.events("DebtCollectionActionStateChanged")) == 5  # created + four changes

    other = _case(sb)
    sb.call("PUT", f"{base}/SendToAssistanceWithBailiff/{other}")
    assisted = sb.case(other)
    assert assisted["State"]["Stage"] == "ReadyForAssistanceWithBailiff" and assisted["CanSendToBailiff"] is False
    assert assisted["CanCancel"] is True
    for control in CASE_CONTROLS:
        sb.refused("PUT", f"{base}/{control}/{UNKNOWN_ACTION}", expect=404, params={"days": 1})


# ---- files ----------------------------------------------------------------------------------------------


def test_invoice_pdf_through_the_files_api(env: tuple[Sandbox, Hook]) -> None:
    sb, _hook = env
    _c, _d, draft = sb.new_invoice(attest=False, sent=False)
    assert sb.invoice(draft)["Invoices"] == []
    _c, _d, action = sb.new_invoice(125050, sent=False)
    invoice = sb.invoice(action)
    reference = invoice["Invoices"][0]["InvoiceFile"]
    assert reference["ContentType"] == "application/pdf" and reference["Data"] is None
    assert reference["FileName"] == f"Faktura_{invoice['InvoiceNumber']}.pdf"
    file_id = reference["FilePublicId"]

    resp = requests.get(f"{sb.base}/v1/files/file/{file_id}", headers=AUTH, timeout=10)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/pdf"
    assert resp.content.startswith(b"%PDF-") and resp.content.rstrip().endswith(b"%%EOF")
    pdf = PdfReader(io.BytesIO(resp.content), strict=True)
    assert len(pdf.pages) == 1
    text = pdf.pages[0].extract_text()
    for expected in (invoice["InvoiceNumber"], invoice["Invoices"][0]["OCR"], "Kund Åkesson AB",
                     invoice["DueDate"][:10], "1 563,13 SEK"):
        assert expected in text, (expected, text)
    assert requests.get(f"{sb.base}/v1/files/file/{file_id}", headers=AUTH, timeout=10).content == resp.content

    without = sb.call("GET", f"/v1/files/fileobject/{file_id}", view="FileView")
    assert without == {**reference, "Data": None}
    assert sb.call("GET", f"/v1/files/fileobject/{file_id}", params={"includedata": "false"})["Data"] is None
    full = sb.call("GET", f"/v1/files/fileobject/{file_id}", view="FileView", params={"includedata": "True"})
    assert base64.b64decode(full["Data"]) == resp.content
    assert "includedata" in sb.refused("GET", f"/v1/files/fileobject/{file_id}", params={"includedata": "yes"})
    sb.refused("GET", f"/v1/files/file/{UNKNOWN_FILE}", expect=404)
    sb.refused("GET", f"/v1/files/fileobject/{UNKNOWN_FILE}", expect=404)
    assert requests.get(f"{sb.base}/v1/files/file/{file_id}", timeout=10).status_code == 401


# ---- knobs and the documented webhook style --------------------------------------------------------------


def test_fault_knobs_apply_to_the_new_routes(env: tuple[Sandbox, Hook]) -> None:
    sb, _hook = env
    _c, _d, action = sb.new_invoice()
    file_id = sb.invoice(action)["Invoices"][0]["InvoiceFile"]["FilePublicId"]
    sb.admin("/config", error_rate=1.0)
    assert "Injected" in sb.refused("PUT", f"/v1/invoice/pause/{action}", expect=503)
    sb.refused("GET", f"/v1/files/file/{file_id}", expect=503)
    sb.admin("/config", error_rate=0.0, rate_limit_per_s=0.01, rate_limit_burst=1, retry_after_s=3)
    sb.call("PUT", f"/v1/invoice/postpone/{action}", params={"days": 1})
    limited = requests.put(f"{sb.base}/v1/invoice/postpone/{action}", params={"days": 1}, headers=AUTH, timeout=5)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
    sb.admin("/config", rate_limit_per_s=0.0)
    assert sb.invoice(action)["State"]["IsPaused"] is False  # the injected 503 changed nothing


def _documented_data_view(trigger: str) -> tuple[str | None, bool]:
    """(view model, Data is an item of it) of each trigger's documented Data."""
    if trigger in ("InvoicePaymentReceived", "AmountCreditedOnInvoice", "AmountWrittenOffOnInvoice"):
        return "IncomingPaymentsView", True
    if trigger.startswith("InvoiceAction") and trigger != "InvoiceActionDeleted":
        return "InvoiceActionView", False
    return {"DebtCollectionActionStateChanged": "DebtCollectionActionView",
            "ReminderInvoiceActionCreated": "ReminderInvoiceActionView",
            "DebtorCreated": "DebtorView", "DebtorUpdated": "DebtorView", "CreditorCreated": "CreditorView",
            "Overpayment": "UnhandledPaymentView"}.get(trigger), False


def test_documented_style_sends_the_data_objects_of_billectas_table() -> None:
    hook = Hook()
    config = BillectaSandboxConfig(auto_send_delay_s=-1, webhook_backoff_s=0.01, webhook_url=hook.url,
                                   webhook_payload_style="documented",
                                   webhook_triggers=list(SUPPORTED_WEBHOOK_TRIGGERS))
    server, base = serve_in_thread(create_app(config))
    sb = Sandbox(base)
    try:
        creditor, debtor, action = sb.new_invoice(80000)
        sb.call("PUT", f"/v1/invoice/pause/{action}")
        payment = sb.admin(f"/invoices/{action}/payments", amount="300.00")["payment"]
        sb.admin(f"/invoices/{action}/writeoff", amount="100.00")
        sb.call("POST", "/v1/invoice/sendreminderinvoice", expect=201, json={"InvoiceActionPublicId": action})
        case_id = sb.call("POST", "/v1/debtcollection/actionfrominvoice", expect=201,
                          json={"SourcePublicId": action})["PublicId"]
        sb.admin(f"/invoices/{action}/payments", amount="2000.00")  # pays the rest and overpays
        _c, _d, credited = sb.new_invoice(10000)
        sb.admin(f"/invoices/{credited}/credit")
        _c, other_debtor, draft = sb.new_invoice(attest=False, sent=False)
        sb.call("DELETE", f"/v1/invoice/action/{draft}")
        sb.idle()
        assert sb.admin("/webhooks", method="GET")["contract_problems"] == []

        with hook.lock:
            bodies = list(hook.bodies)
        for body in bodies:
            assert set(body) == {"WebhookTriggerType", "Data", "SecondValue"}, body
            view, as_item = _documented_data_view(body["WebhookTriggerType"])
            if view is not None:
                data = [body["Data"]] if as_item else body["Data"]
                assert contract.validate(view, data) == [], (body["WebhookTriggerType"], contract.validate(view, data))
        triggers = {b["WebhookTriggerType"] for b in bodies}
        assert {"InvoiceActionAttested", "InvoiceActionStateChanged", "InvoiceActionPaid", "InvoicePaymentReceived",
                "AmountWrittenOffOnInvoice", "AmountCreditedOnInvoice", "ReminderInvoiceActionCreated",
                "DebtCollectionActionStateChanged", "InvoiceActionDeleted", "Overpayment"} <= triggers

        [attested] = [b["Data"] for b in bodies
                      if b["WebhookTriggerType"] == "InvoiceActionAttested" and b["Data"]["ActionPublicId"] == action]
        assert attested["Invoices"][0]["InvoiceFile"]["FilePublicId"]  # the PDF exists before the webhook
        received = [b["Data"] for b in bodies if b["WebhookTriggerType"] == "InvoicePaymentReceived"]
        assert received[0] == payment  # the webhook's IncomingPaymentView is the payment as booked
        listed = sb.call("PUT", "/v1/payments/incomingpayments", view="IncomingPaymentsView",
                         json={"CreditorPublicId": creditor, "From": "2000-01-01", "To": "2100-01-01"})
        assert {p["PaymentReferenceId"] for p in listed} == {p["PaymentReferenceId"] for p in received}
        [written_off] = [b["Data"] for b in bodies if b["WebhookTriggerType"] == "AmountWrittenOffOnInvoice"]
        assert (written_off["ActionPublicId"], written_off["Amount"]["Value"]) == (action, 10000)
        [deleted] = [b for b in bodies if b["WebhookTriggerType"] == "InvoiceActionDeleted"]
        assert (deleted["Data"], deleted["SecondValue"]) == (draft, other_debtor)
        cases = [b["Data"] for b in bodies if b["WebhookTriggerType"] == "DebtCollectionActionStateChanged"]
        assert [c["ActionPublicId"] for c in cases] == [case_id]
        paused = [b["Data"] for b in bodies if b["WebhookTriggerType"] == "InvoiceActionStateChanged"
                  and b["Data"]["State"]["IsPaused"]]
        assert paused and paused[0]["ActionPublicId"] == action
        debtors = [b["Data"] for b in bodies if b["WebhookTriggerType"] == "DebtorCreated"]
        assert debtor in {d["DebtorPublicId"] for d in debtors}

        described = sb.admin("/webhooks/data-objects", method="GET")
        assert described["InvoiceActionAttested"] == {"data": "InvoiceActionView", "documented": True}
        assert described["InvoicePaymentReceived"] == {"data": "item of IncomingPaymentsView", "documented": True}
        assert described["InvoiceActionDeleted"] == {"data": "string", "documented": True}
        assert described["DebtCollectionActionStateChanged"]["documented"] is False
    finally:
        for s in (server, hook.server):
            threading.Thread(target=lambda s=s: (s.shutdown(), s.server_close()), daemon=True).start()


def test_documented_style_retrigger_finds_the_creditor_of_every_body() -> None:
    config = BillectaSandboxConfig(auto_send_delay_s=-1, webhook_backoff_s=0.01, webhook_max_attempts=1,
                                   webhook_url="http://127.0.0.1:9/down", webhook_payload_style="documented",
                                   webhook_triggers=["InvoiceActionDeleted", "InvoiceActionCreated"])
    server, base = serve_in_thread(create_app(config))
    sb = Sandbox(base)
    try:
        creditor, _debtor, draft = sb.new_invoice(attest=False, sent=False)
        sb.call("DELETE", f"/v1/invoice/action/{draft}")
        sb.idle()
        assert len(sb.admin("/webhooks?status=failed", method="GET")["deliveries"]) == 2
        # The delete's Data is a bare id, yet it is resent for its creditor like the other.
        assert sb.call("POST", f"/v1/notifications/retriggerfailedwebhooks/{creditor}")["Resent"] == 2
    finally:
        threading.Thread(target=lambda: (server.shutdown(), server.server_close()), daemon=True).start()
