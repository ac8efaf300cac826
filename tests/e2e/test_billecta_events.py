"""Billecta → Lime over real processes: every supported webhook event lands in Lime, once in effect.

Invoices are made directly in Billecta (outside the order flow), so the invoice, its debtor and the
debtor's creditordebtor link must all be created in Lime from Billecta's data.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from billecta_sync.billecta import BillectaClient
from billecta_sync.lime import LimeClient
from billecta_sync.lime.values import option_key
from devstack.stack import Stack
from tests.billecta_day import billecta_today
from tests.e2e.support import inbox_counts, settle, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(stack_starter: Callable[..., Stack], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Few, quick retries, so a webhook whose creditor Lime lacks is dead within seconds.
    running = stack_starter(tmp_path_factory.mktemp("stack-events"), database_url=None, redis_index=8,
                            extra_env={"WORKER_MAX_RETRIES": "2", "WORKER_RETRY_BACKOFF_MAX_S": "1"})
    try:
        yield running
    finally:
        running.stop()


def admin(stack: Stack, path: str, **body: Any) -> Any:
    resp = requests.post(f"{stack.billecta_admin_url}{path}", json=body, timeout=15)
    assert resp.status_code == 200, resp.text
    return resp.json()


def query(lime: LimeClient, limetype: str, key: str, value: Any, props: list[str]) -> list[dict[str, Any]]:
    return list(lime.query(limetype, ["_id", *props], filter={"key": key, "op": "=", "exp": value}))


class World:
    """A creditor known to Lime and Billecta, and a debtor only Billecta knows."""

    def __init__(self, billecta: BillectaClient, lime: LimeClient) -> None:
        tag = uuid.uuid4().hex[:6]
        self.billecta = billecta
        self.creditor = billecta.create_creditor({"Name": f"Events AB {tag}", "OrgNo": "556000-0002"})
        self.lime_creditor = int(lime.create("creditor", {"name": f"Events AB {tag}",
                                                          "creditorpublicid": self.creditor})["_id"])
        self.debtor = billecta.create_debtor({"CreditorPublicId": self.creditor, "Name": f"Portalkund {tag}",
                                              "OrgNo": "556123-4567", "DebtorType": "Company",
                                              "Email": "kund@example.se", "City": "Malmö", "CountryCode": "SE"})

    def invoice(self, ore: int = 100000, creditor: str | None = None, debtor: str | None = None) -> str:
        entry = {"CreditorPublicId": creditor or self.creditor, "DebtorPublicId": debtor or self.debtor,
                 "DeliveryMethod": "Email",
                 "Records": [{"RecordType": "Standard", "ArticleDescription": "Konsult", "Quantity": 1, "VAT": 0,
                              "UnitPrice": {"CurrencyCode": "SEK", "Value": ore}}]}
        action = self.billecta.create_invoice(entry)
        self.billecta.attest_invoice(action)
        return action


def lime_invoice(lime: LimeClient, action: str, status: str | None = None) -> dict[str, Any]:
    props = ["invoicestatus", "paidamount", "currentamount", "creditedamount", "writtenoffamount", "debtor",
             "creditor", "creditinvoice", "invoicenumber"]

    def probe() -> dict[str, Any] | None:
        found = query(lime, "invoice", "actionpublicid", action, props)
        assert len(found) <= 1, f"{len(found)} Lime invoices for {action}"
        if found and (status is None or option_key(found[0]["invoicestatus"]) == status):
            return found[0]
        return None

    return wait_for(probe, f"invoice {action} in Lime as {status}")  # type: ignore[no-any-return]


def test_payments_and_overpayment_reach_lime_with_the_debtor_created(stack: Stack, billecta: BillectaClient,
                                                                     lime: LimeClient) -> None:
    world = World(billecta, lime)
    action = world.invoice(100000)
    lime_invoice(lime, action, "sent")
    admin(stack, f"/invoices/{action}/payments", amount="400.00", date="2026-01-10", payment_mean_code="BG")
    assert num(lime_invoice(lime, action, "subpaid")["paidamount"]) == 400
    over = admin(stack, f"/invoices/{action}/payments", amount="700.00", payment_mean_code="SWISH")["overpayment"]
    invoice = lime_invoice(lime, action, "paid")
    settle(stack)

    payments = query(lime, "payment", "invoice", invoice["_id"],
                     ["paymenttype", "amount", "paymentmeancode", "paymentbillectaid", "debtor", "creditor"])
    kinds = sorted((option_key(p["paymenttype"]), float(p["amount"])) for p in payments)
    assert kinds == [("overpayment", 100.0), ("payment", 400.0), ("payment", 600.0)]
    assert {p["paymentbillectaid"] for p in payments if option_key(p["paymenttype"]) == "overpayment"} == {
        over["UnhandledPaymentPublicId"]}
    assert all(p["creditor"] == world.lime_creditor and p["debtor"] == invoice["debtor"] for p in payments)
    # The debtor came from Billecta's DebtorView, linked to the creditor by its public id.
    links = query(lime, "creditordebtor", "debtorpublicid", world.debtor, ["debtor", "creditor"])
    assert [(link["debtor"], link["creditor"]) for link in links] == [(invoice["debtor"], world.lime_creditor)]
    debtor = lime.get("debtor", invoice["debtor"])
    assert debtor["name"].startswith("Portalkund") and debtor["city"] == "Malmö"

    # The overpayment is used on the debtor's next invoice: it moves there, handled, and pays part of it.
    second = world.invoice(30000)
    lime_invoice(lime, second, "sent")
    admin(stack, f"/unhandled-payments/{over['UnhandledPaymentPublicId']}/match", action_public_id=second)
    next_invoice = lime_invoice(lime, second, "subpaid")
    settle(stack)
    moved = query(lime, "payment", "paymentbillectaid", over["UnhandledPaymentPublicId"],
                  ["invoice", "handled", "paymenttype"])
    assert [(m["invoice"], m["handled"], option_key(m["paymenttype"])) for m in moved] == [
        (next_invoice["_id"], True, "overpayment")]
    used = query(lime, "payment", "invoice", next_invoice["_id"], ["amount", "paymentmeancode", "paymenttype"])
    assert sorted((option_key(u["paymenttype"]), num(u["amount"])) for u in used) == [
        ("overpayment", 100.0), ("payment", 100.0)]


def num(value: Any) -> float:
    return float(value or 0)


def test_credit_write_off_reminder_debt_collection_and_debtor_events(stack: Stack, billecta: BillectaClient,
                                                                     lime: LimeClient) -> None:
    world = World(billecta, lime)
    credited, collected, autogiro = world.invoice(50000), world.invoice(80000), world.invoice(30000)
    for action in (credited, collected, autogiro):
        lime_invoice(lime, action, "sent")

    credit_id = admin(stack, f"/invoices/{credited}/credit")["credit_action_public_id"]
    admin(stack, f"/invoices/{collected}/writeoff", amount="100")
    admin(stack, f"/invoices/{collected}/reminder")
    case = admin(stack, f"/invoices/{collected}/debtcollection")
    admin(stack, f"/debtcollection/{case['ActionPublicId']}/advance", stage="DebtCollectionInvoiceSent",
          interest="12.50")
    admin(stack, f"/invoices/{autogiro}/autogiro-withdrawal", outcome="failed")
    admin(stack, f"/debtors/{world.debtor}/autogiro", status="approved")
    unmatched = admin(stack, "/unmatched-payments", creditor_public_id=world.creditor, amount="55.00",
                      debtor_public_id=world.debtor)
    view = billecta.get_debtor(world.debtor)
    billecta.update_debtor({**view, "Name": "Portalkund Omdöpt AB", "City": "Lund"})
    counts = settle(stack)
    assert counts.get("dead", 0) == 0

    original = lime_invoice(lime, credited, "credited")
    assert num(original["creditedamount"]) == 500
    credit = lime_invoice(lime, credit_id, "credited")
    assert credit["creditinvoice"] == original["_id"]

    written = lime_invoice(lime, collected, "debtcollection")
    assert num(written["writtenoffamount"]) == 100 and num(written["currentamount"]) == 700
    cases = query(lime, "debtcollection", "actionpublicid", case["ActionPublicId"],
                  ["stage", "invoice", "debtor", "creditor", "interestamount", "nexteventdate", "deliverymethod"])
    assert len(cases) == 1
    assert cases[0]["stage"] == "DebtCollectionInvoiceSent" and num(cases[0]["interestamount"]) == 12.5
    assert (cases[0]["invoice"], cases[0]["debtor"], cases[0]["creditor"]) == (
        written["_id"], written["debtor"], world.lime_creditor)
    assert cases[0]["nexteventdate"] and option_key(cases[0]["deliverymethod"]) == "email"

    loose = query(lime, "payment", "paymentbillectaid", unmatched["UnhandledPaymentPublicId"],
                  ["paymenttype", "amount", "handled", "creditor", "invoice"])
    assert [(option_key(p["paymenttype"]), num(p["amount"]), p["handled"], p["invoice"]) for p in loose] == [
        ("unmatched", 55.0, False, None)]
    debtor = lime.get("debtor", written["debtor"])
    assert (debtor["name"], debtor["city"]) == ("Portalkund Omdöpt AB", "Lund")

    # Write-offs and credits are Lime payments of their own: one row per invoice and kind.
    def adjustments(invoice: dict[str, Any]) -> list[tuple[str, str, float, bool]]:
        rows = query(lime, "payment", "invoice", invoice["_id"],
                     ["paymenttype", "paymentbillectaid", "amount", "handled", "paymentdate"])
        assert all(r["paymentdate"] for r in rows)
        return sorted((option_key(r["paymenttype"]) or "", r["paymentbillectaid"], num(r["amount"]), r["handled"])
                      for r in rows if option_key(r["paymenttype"]) in ("writeoff", "credit"))

    assert adjustments(written) == [("writeoff", f"{collected}:writeoff", 100.0, True)]
    assert adjustments(original) == [("credit", f"{credited}:credit", 500.0, True)]
    assert adjustments(credit) == [("credit", f"{credit_id}:credit", 500.0, True)]

    links = query(lime, "creditordebtor", "debtorpublicid", world.debtor, ["autogirostatus", "autogiroactive"])
    assert [(option_key(link["autogirostatus"]), link["autogiroactive"]) for link in links] == [("approved", True)]

    def autogiro_state() -> tuple[str | None, str]:
        [found] = query(lime, "invoice", "actionpublicid", autogiro, ["autogirostatus", "autogirostatusat"])
        return option_key(found["autogirostatus"]), found["autogirostatusat"]

    failed = autogiro_state()
    assert failed[0] == "failed" and failed[1]
    # A late "renewed" raised before the failure changes nothing.
    late = {"WebhookTriggerType": "AutogiroWithdrawalRenewedOnInvoice", "CreditorPublicId": world.creditor,
            "ActionPublicId": autogiro, "Created": "2020-01-01T00:00:00Z", "EventId": str(uuid.uuid4())}
    resp = requests.post(f"{stack.gateway_url}{stack.config.prefix}/billecta-webhook-receiver", json=late,
                         headers={"X-API-Key": stack.config.webhook_key}, timeout=10)
    assert resp.status_code == 200, resp.text
    assert settle(stack).get("dead", 0) == 0
    assert autogiro_state() == failed


def test_missing_creditor_is_retried_then_dead_never_dropped(stack: Stack, billecta: BillectaClient,
                                                             lime: LimeClient) -> None:
    stranger = billecta.create_creditor({"Name": "Okänd AB"})
    debtor = billecta.create_debtor({"CreditorPublicId": stranger, "Name": "Kund", "DebtorType": "Company"})
    before = inbox_counts(stack).get("dead", 0)
    world = World.__new__(World)
    world.billecta = billecta
    action = world.invoice(1000, creditor=stranger, debtor=debtor)
    wait_for(lambda: inbox_counts(stack).get("dead", 0) > before, "the webhook to be dead-lettered")
    rows = requests.get(f"{stack.gateway_url}{stack.config.prefix}/operator/inbox", params={"status": "dead"},
                        headers={"X-API-Key": stack.config.operator_key}, timeout=10).json()
    items = rows.get("items", rows) if isinstance(rows, dict) else rows
    assert any("RelatedObjectMissing" in (r.get("last_error") or "") for r in items)
    assert query(lime, "invoice", "actionpublicid", action, []) == []


def test_every_event_three_times_shuffled_ends_in_the_same_state(stack: Stack, billecta: BillectaClient,
                                                                 lime: LimeClient) -> None:
    world = World(billecta, lime)
    action = world.invoice(100000)
    lime_invoice(lime, action, "sent")
    admin(stack, f"/invoices/{action}/payments", amount="250.00", payment_mean_code="BG")
    admin(stack, f"/invoices/{action}/payments", amount="750.00", payment_mean_code="BG")
    settle(stack)

    def snapshot() -> dict[str, Any]:
        invoice = lime_invoice(lime, action)
        payments = query(lime, "payment", "invoice", invoice["_id"], ["paymentbillectaid", "amount"])
        rows = query(lime, "invoicerow", "invoice", invoice["_id"], ["position"])
        return {"invoice": {k: v for k, v in invoice.items()},
                "payments": sorted((p["paymentbillectaid"], num(p["amount"])) for p in payments),
                "rows": sorted(r["_id"] for r in rows),
                "debtors": len(query(lime, "creditordebtor", "debtorpublicid", world.debtor, []))}

    dead_before = inbox_counts(stack).get("dead", 0)
    expected = snapshot()
    assert option_key(expected["invoice"]["invoicestatus"]) == "paid" and len(expected["payments"]) == 2

    deliveries = requests.get(f"{stack.billecta_admin_url}/webhooks", timeout=10).json()["deliveries"]
    mine = [d["payload"] for d in deliveries
            if d["payload"] and action in json.dumps(d["payload"]) and d["status"] == "delivered"]
    assert {p["WebhookTriggerType"] for p in mine} >= {"InvoiceActionAttested", "InvoiceActionStateChanged",
                                                       "InvoicePaymentReceived"}
    counts = redeliver_three_times_shuffled(stack, mine, seed=4)
    assert counts.get("dead", 0) == dead_before
    assert snapshot() == expected


def redeliver_three_times_shuffled(stack: Stack, payloads: list[dict[str, Any]], seed: int) -> dict[str, int]:
    """Post every payload three more times, each with its own event id (so none is a byte-identical twin
    the gateway would drop as a duplicate delivery), in random order; then wait for the inbox to settle."""
    bodies = [{**p, "EventId": str(uuid.uuid4())} for p in payloads for _ in range(3)]
    random.Random(seed).shuffle(bodies)
    url = f"{stack.gateway_url}{stack.config.prefix}/billecta-webhook-receiver"
    for body in bodies:
        resp = requests.post(url, json=body, headers={"X-API-Key": stack.config.webhook_key}, timeout=10)
        assert resp.status_code == 200, resp.text
    return settle(stack)


def gateway_call(stack: Stack, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{stack.gateway_url}{stack.config.prefix}{path}",
                            headers={"X-API-Key": stack.config.commands_key}, timeout=30, **kwargs)


def test_failed_webhooks_are_retriggered_per_creditor(stack: Stack, billecta: BillectaClient,
                                                      lime: LimeClient) -> None:
    world = World(billecta, lime)
    action = world.invoice(20000)
    invoice = lime_invoice(lime, action, "sent")
    settle(stack)
    config_url = f"{stack.billecta_admin_url}/config"
    original = requests.get(config_url, timeout=10).json()
    # Billecta cannot reach us for a while: the payment webhook fails for good.
    requests.post(config_url, json={"webhook_url": "http://127.0.0.1:9/unreachable", "webhook_max_attempts": 1},
                  timeout=10).raise_for_status()
    try:
        admin(stack, f"/invoices/{action}/payments", amount="200.00")
        requests.post(f"{stack.billecta_admin_url}/webhooks/wait-idle", params={"timeout": 20}, timeout=30)
    finally:
        requests.post(config_url, json={"webhook_url": original["webhook_url"],
                                        "webhook_max_attempts": original["webhook_max_attempts"]},
                      timeout=10).raise_for_status()
    assert option_key(lime_invoice(lime, action)["invoicestatus"]) == "sent"

    resp = gateway_call(stack, "POST", "/task/billecta-retrigger-failed-webhooks", json={})
    assert resp.status_code == 200, resp.text
    batch_id = resp.json()["integration_monitor_batch_id"]
    assert lime_invoice(lime, action, "paid")["_id"] == invoice["_id"]

    def batch_done() -> dict[str, Any] | None:
        batch = gateway_call(stack, "GET", f"/monitor/batches/{batch_id}").json()
        return batch if batch["status"] != "running" else None

    batch = wait_for(batch_done, "the retrigger batch")
    mine = [log for log in batch["logs"] if log["object_id"] == str(world.lime_creditor)]
    assert mine and mine[0]["status"] == "ok" and "sent again" in mine[0]["message"]
    settle(stack)  # the resent webhook's handler may still be writing the payment after the invoice
    assert len(query(lime, "payment", "invoice", invoice["_id"], [])) == 1


def test_event_log_of_an_invoice_newest_first(stack: Stack, billecta: BillectaClient, lime: LimeClient) -> None:
    world = World(billecta, lime)
    action = world.invoice(10000)
    invoice = lime_invoice(lime, action, "sent")
    admin(stack, f"/invoices/{action}/payments", amount="40.00")
    resp = gateway_call(stack, "GET", f"/billecta/event-log/invoice/{invoice['_id']}")
    assert resp.status_code == 200, resp.text
    events = resp.json()
    dates = [e["eventdate"] for e in events]
    assert dates == sorted(dates, reverse=True)
    assert all(len(d) == 19 and d[10] == " " for d in dates)
    assert events[0]["title"].startswith("Payment of 40.00") and events[-1]["title"] == "Invoice created"

    orphan = lime.create("invoice", {"invoicestatus": "created"})
    missing = gateway_call(stack, "GET", f"/billecta/event-log/invoice/{orphan['_id']}")
    assert missing.status_code == 404 and missing.json()["error_message"]
    assert gateway_call(stack, "GET", "/billecta/event-log/invoice/999999999").status_code == 404
    assert gateway_call(stack, "GET", "/billecta/event-log/order/1").status_code == 400


def test_overdue_invoices_expire_once_a_day_and_a_rerun_does_nothing(stack: Stack, lime: LimeClient) -> None:
    from datetime import date, timedelta

    from billecta_sync.container import build_services
    from billecta_sync.settings import load_settings
    from billecta_sync.usecases.jobs import expiry

    today = date.today() + timedelta(days=3650)  # a day of its own: the stack's other invoices are all "due"
    past, future = (today - timedelta(days=1)).isoformat(), (today + timedelta(days=1)).isoformat()
    tag = uuid.uuid4().hex[:8]
    rows = ([{"invoicestatus": "sent", "invoice_expires": past, "invoicenumber": f"{tag}-due"}] * 5
            + [{"invoicestatus": "subpaid", "invoice_expires": past, "invoicenumber": f"{tag}-due"}] * 2
            + [{"invoicestatus": "paid", "invoice_expires": past, "invoicenumber": f"{tag}-paid"}] * 2
            + [{"invoicestatus": "sent", "invoice_expires": future, "invoicenumber": f"{tag}-future"}] * 2)
    resp = requests.post(f"{stack.lime_admin_url}/bulk/invoice", json=rows, timeout=30)
    assert resp.status_code == 201, resp.text

    services = build_services(load_settings(env=stack.env()))
    lines: list[str] = []
    try:
        first = expiry.set_invoices_as_expired(services, today=today, progress=lines.append)
        second = expiry.set_invoices_as_expired(services, today=today, progress=lines.append)
    finally:
        services.close()

    statuses: dict[str, list[str]] = {}
    for suffix in ("due", "paid", "future"):
        found = query(lime, "invoice", "invoicenumber", f"{tag}-{suffix}", ["invoicestatus"])
        statuses[suffix] = sorted(option_key(f["invoicestatus"]) or "" for f in found)
    assert statuses == {"due": ["expired"] * 7, "paid": ["paid"] * 2, "future": ["sent"] * 2}
    assert first["status"] == "ok" and first["expired"] >= 7 and first["failed"] == 0
    assert second["status"] == "already done" and second["expired"] == first["expired"]
    assert any("expired" in line for line in lines) and any("already done" in line for line in lines)


def test_reminder_invoice_is_its_own_lime_invoice_closed_with_its_source_and_replays_change_nothing(
        stack: Stack, billecta: BillectaClient, lime: LimeClient) -> None:
    from datetime import timedelta

    world = World(billecta, lime)
    action = world.invoice(80000)
    source = lime_invoice(lime, action, "sent")
    reminder_id = admin(stack, f"/invoices/{action}/reminder", fee="75.00", days=14)["reminder_action_public_id"]
    dead_before = settle(stack).get("dead", 0)
    props = ["actionpublicid", "invoicestatus", "reminderof", "reminderfee", "invoicenumber", "ocr",
             "invoice_expires", "invoicedamount", "currentamount", "debtor", "creditor"]

    def reminders(status: str | None = None) -> list[dict[str, Any]] | None:
        found = query(lime, "invoice", "reminderof", source["_id"], props)
        return found if found and (status is None or option_key(found[0]["invoicestatus"]) == status) else None

    [reminder] = wait_for(lambda: reminders("sent"), "the reminder invoice in Lime")
    document = billecta.call("invoice.reminder.get", {"action_public_id": reminder_id})["ReminderInvoices"][-1]
    assert reminder["actionpublicid"] == reminder_id
    assert reminder["invoicenumber"] == document["InvoiceNumber"] != source["invoicenumber"]
    assert reminder["ocr"] == document["OCR"]
    assert str(reminder["invoice_expires"])[:10] == (billecta_today() + timedelta(days=14)).isoformat()
    assert num(reminder["reminderfee"]) == 75 and num(reminder["invoicedamount"]) == 875
    assert (reminder["debtor"], reminder["creditor"]) == (source["debtor"], world.lime_creditor)
    assert option_key(lime_invoice(lime, action)["invoicestatus"]) == "sent"  # the source is not replaced

    admin(stack, f"/invoices/{action}/payments", amount="800.00")
    lime_invoice(lime, action, "paid")
    [closed] = wait_for(lambda: reminders("paid"), "the reminder invoice to close with its source")
    assert closed["_id"] == reminder["_id"] and num(closed["currentamount"]) == 0
    counts = settle(stack)

    # Billecta sends the event again (a byte-identical twin), and once more with an id of its own, which is
    # processed in full: neither creates a second reminder invoice or reopens this one.
    deliveries = requests.get(f"{stack.billecta_admin_url}/webhooks", params={"event": "ReminderInvoiceActionCreated"},
                              timeout=10).json()["deliveries"]
    [delivery] = [d for d in deliveries if d["payload"] and d["payload"].get("ReminderInvoiceActionPublicId")
                  == reminder_id]
    resp = requests.post(f"{stack.billecta_admin_url}/webhooks/{delivery['id']}/resend", timeout=10)
    assert resp.status_code == 200, resp.text
    settle(stack)
    resp = requests.post(f"{stack.gateway_url}{stack.config.prefix}/billecta-webhook-receiver",
                         json={**delivery["payload"], "EventId": str(uuid.uuid4())},
                         headers={"X-API-Key": stack.config.webhook_key}, timeout=10)
    assert resp.status_code == 200, resp.text
    after = settle(stack)
    assert after.get("processed", 0) > counts.get("processed", 0) and after.get("dead", 0) == dead_before
    assert [(r["_id"], option_key(r["invoicestatus"])) for r in reminders() or []] == [(reminder["_id"], "paid")]
    assert len(query(lime, "invoice", "actionpublicid", reminder_id, [])) == 1


def test_expiry_never_marks_an_invoice_paid_while_the_job_ran(stack: Stack, billecta: BillectaClient,
                                                              lime: LimeClient) -> None:
    """An invoice read as overdue by the nightly job, then paid (and written by the payment handler) before
    the job reaches it, stays paid."""
    from datetime import date, timedelta

    from billecta_sync.container import build_services
    from billecta_sync.settings import load_settings
    from billecta_sync.usecases.billecta_to_lime.invoices import sync_invoice_from_billecta
    from billecta_sync.usecases.jobs import expiry

    world = World(billecta, lime)
    action = world.invoice(25000)
    paid_late = int(lime_invoice(lime, action, "sent")["_id"])
    settle(stack)
    services = build_services(load_settings(env=stack.env()))
    real_query = services.lime.query
    interleaved: list[int] = []

    def query_then_payment(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        page = list(real_query(*args, **kwargs))
        if not interleaved and any(int(row["_id"]) == paid_late for row in page):
            # Between the job's read and its update: the debtor pays and the payment handler runs.
            interleaved.append(paid_late)  # first: the handler's own Lime queries come through here too
            admin(stack, f"/invoices/{action}/payments", amount="250.00")
            sync_invoice_from_billecta(services, action, with_payments=True)
        return page

    services.lime.query = query_then_payment  # type: ignore[method-assign]
    try:
        # Years ahead, a run of its own: every invoice the stack holds is overdue then.
        result = expiry.set_invoices_as_expired(services, today=date.today() + timedelta(days=3651))
    finally:
        services.close()
    assert interleaved == [paid_late], "the job never read the invoice as a candidate"
    assert option_key(lime.get("invoice", paid_late)["invoicestatus"]) == "paid"
    assert result["status"] == "ok" and result["skipped"] >= 1
    settle(stack)
    assert option_key(lime.get("invoice", paid_late)["invoicestatus"]) == "paid"


def test_every_kind_of_event_three_times_shuffled_changes_nothing(stack: Stack, billecta: BillectaClient,
                                                                   lime: LimeClient) -> None:
    """Payments, overpayment, unmatched payment, credit, write-off, reminder, debt collection and autogiro:
    once applied, each of their events delivered three more times in random order leaves Lime as it was."""
    world = World(billecta, lime)
    paid, credited, collected, reminded = (world.invoice(ore) for ore in (40000, 50000, 80000, 30000))
    for action in (paid, credited, collected, reminded):
        lime_invoice(lime, action, "sent")
    admin(stack, f"/invoices/{paid}/payments", amount="150.00")
    admin(stack, f"/invoices/{paid}/payments", amount="300.00")  # 50.00 over: an overpayment
    admin(stack, f"/invoices/{credited}/credit", amount="200.00")
    admin(stack, f"/invoices/{collected}/writeoff", amount="100")
    case = admin(stack, f"/invoices/{collected}/debtcollection")
    admin(stack, f"/debtcollection/{case['ActionPublicId']}/advance", stage="DebtCollectionInvoiceSent",
          interest="9.50")
    admin(stack, f"/invoices/{reminded}/reminder", fee="60.00")
    admin(stack, f"/invoices/{reminded}/autogiro-withdrawal", outcome="failed")
    admin(stack, f"/debtors/{world.debtor}/autogiro", status="approved")
    admin(stack, "/unmatched-payments", creditor_public_id=world.creditor, amount="12.00")
    dead_before = settle(stack).get("dead", 0)

    def snapshot() -> dict[str, list[dict[str, Any]]]:
        by_creditor = {
            "invoice": ["actionpublicid", "invoicestatus", "paidamount", "currentamount", "creditedamount",
                        "writtenoffamount", "creditinvoice", "reminderof", "reminderfee", "autogirostatus",
                        "autogirostatusat", "debtor", "_timestamp"],
            "payment": ["paymentbillectaid", "paymenttype", "amount", "paymentdate", "invoice", "handled",
                        "_timestamp"],
            "debtcollection": ["actionpublicid", "stage", "interestamount", "currentamount", "invoice", "_timestamp"],
            "creditordebtor": ["debtorpublicid", "autogirostatus", "autogiroactive", "debtor", "_timestamp"],
        }
        return {limetype: sorted(query(lime, limetype, "creditor", world.lime_creditor, props),
                                 key=lambda o: int(o["_id"]))
                for limetype, props in by_creditor.items()}

    expected = snapshot()
    kinds = {option_key(p["paymenttype"]) for p in expected["payment"]}
    assert kinds == {"payment", "overpayment", "unmatched", "credit", "writeoff"}, kinds
    assert len(expected["invoice"]) == 6  # four invoices, the credit invoice and the reminder invoice
    assert len(expected["debtcollection"]) == 1 and len(expected["creditordebtor"]) == 1

    deliveries = requests.get(f"{stack.billecta_admin_url}/webhooks", timeout=10).json()["deliveries"]
    mine = [d["payload"] for d in deliveries
            if d["payload"] and d["payload"].get("CreditorPublicId") == world.creditor and d["status"] == "delivered"]
    assert {p["WebhookTriggerType"] for p in mine} >= {
        "InvoicePaymentReceived", "Overpayment", "UnmatchedPayment", "AmountCreditedOnInvoice",
        "AmountWrittenOffOnInvoice", "ReminderInvoiceActionCreated", "DebtCollectionActionStateChanged",
        "AutogiroWithdrawalFailedOnInvoice", "AutogiroApprovalChanged"}
    counts = redeliver_three_times_shuffled(stack, mine, seed=7)
    assert counts.get("dead", 0) == dead_before
    assert snapshot() == expected  # _timestamp included: nothing was even rewritten with the same values
