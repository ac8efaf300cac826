"""The foundation flow over real processes: order in Lime → invoice in Billecta → invoice back in Lime."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from billecta_sync.billecta import BillectaClient
from billecta_sync.lime import LimeClient
from billecta_sync.lime.values import option_key
from devstack.demo import DemoTarget, run_demo, seed, start_command, wait_batch
from devstack.stack import Stack
from tests.e2e.support import settle

pytestmark = pytest.mark.slow


def test_order_becomes_attested_invoice_and_comes_back_to_lime(target: DemoTarget, billecta: BillectaClient,
                                                               lime: LimeClient) -> None:
    result = run_demo(target, out=lambda _line: None, timeout_s=90)

    assert result.batch["status"] == "ok"
    assert result.batch["counts"] == {"running": 0, "ok": 1, "error": 0}
    order = lime.get("order", result.order_id)
    assert option_key(order["orderstatus"]) == "attested"
    assert order["billecta_error_message"] == ""
    action_id = order["actionpublicid"]

    # Billecta holds the attested invoice with the order's rows, message row included.
    remote = billecta.get_invoice(action_id)
    assert remote["State"]["Stage"] in ("Attested", "InvoiceSent")
    assert remote["ExternalReference"] == f"lime-order-{result.order_id}"
    assert [r["RecordType"] for r in remote["Records"]] == ["Standard", "Message", "Standard"]
    assert remote["Records"][1]["ArticleDescription"] == "Avser lokal 4B"
    # 12 500.00 + 2 x 850.50 = 14 201.00 excl. VAT; 25 % VAT → 17 751.25, in öre on the wire.
    assert remote["InvoicedAmount"]["Value"] == 1775125

    # Public ids were saved on the Lime relations.
    link = next(lime.query("creditordebtor", ["_id", "debtorpublicid"],
                           filter={"key": "debtor", "op": "=", "exp": result.debtor_id}))
    assert link["debtorpublicid"] and link["debtorpublicid"] == remote["Debtor"]["DebtorPublicId"]
    products = list(lime.query("creditorarticle", ["_id", "articlepublicid", "article"],
                               filter={"key": "creditor", "op": "=", "exp": result.creditor_id}))
    assert sorted(p["article"] for p in products) == sorted(result.article_ids)
    assert all(p["articlepublicid"] for p in products)

    # The invoice came back to Lime with Billecta's number, OCR, amounts and dates.
    invoice = result.invoice
    assert invoice is not None
    assert invoice["invoicenumber"] == remote["Invoices"][0]["InvoiceNumber"]
    assert invoice["ocr"] == remote["Invoices"][0]["OCR"]
    assert Decimal(str(invoice["invoicedamount"])) == Decimal("17751.25")
    assert option_key(invoice["invoicestatus"]) == "sent"
    assert invoice["order"] == result.order_id
    assert invoice["debtor"] == result.debtor_id
    assert invoice["creditor"] == result.creditor_id
    assert [option_key(r["rowtype"]) for r in result.invoice_rows] == ["standard", "message", "standard"]
    assert [r["position"] for r in result.invoice_rows] == [1, 2, 3]

    # Running the command again changed nothing and created nothing.
    assert result.second_batch["status"] == "ok"
    assert "already attested" in result.second_batch["logs"][0]["message"]
    debtor_id = remote["Debtor"]["DebtorPublicId"]
    assert len(billecta.open_invoices_by_debtor(debtor_id)) == 1


def test_redelivered_webhooks_create_nothing_twice(stack: Stack, target: DemoTarget, lime: LimeClient) -> None:
    result = run_demo(target, out=lambda _line: None, timeout_s=90)
    invoice = result.invoice
    assert invoice is not None
    deliveries = requests.get(f"{stack.billecta_admin_url}/webhooks", timeout=10).json()["deliveries"]
    delivered = [d for d in deliveries if d["status"] == "delivered"]
    assert delivered, "the sandbox delivered no webhooks"
    for delivery in delivered:  # Billecta redelivers: every webhook once more
        requests.post(f"{stack.billecta_admin_url}/webhooks/{delivery['id']}/resend", timeout=10).raise_for_status()
    counts = settle(stack, 60)
    assert counts.get("duplicate", 0) >= 1
    assert counts.get("dead", 0) == 0
    same = list(lime.query("invoice", ["_id"], filter={"key": "actionpublicid", "op": "=",
                                                        "exp": invoice["actionpublicid"]}))
    assert [row["_id"] for row in same] == [invoice["_id"]]
    rows = list(lime.query("invoicerow", ["_id"], filter={"key": "invoice", "op": "=", "exp": invoice["_id"]}))
    assert len(rows) == 3


def test_order_with_a_row_without_article_fails_visibly(target: DemoTarget, billecta: BillectaClient,
                                                       lime: LimeClient) -> None:
    seeded = seed(target, billecta, lime)
    lime.create("orderrow", {"order": seeded.order_id, "rowtype": "standard", "description": "Okänd vara",
                             "quantity": 1, "unitprice": 10, "vat": 25, "position": 4})
    batch = wait_batch(target, start_command(target, [seeded.order_id]), 60)
    assert batch["status"] == "donewitherror"
    assert batch["logs"][0]["status"] == "error"
    assert "has no article" in batch["logs"][0]["message"]
    order = lime.get("order", seeded.order_id)
    assert option_key(order["orderstatus"]) == "errorupsert"
    assert "has no article" in order["billecta_error_message"]
    assert order["actionpublicid"] == ""


def test_billecta_refusal_is_shown_on_the_order(target: DemoTarget, billecta: BillectaClient,
                                                lime: LimeClient) -> None:
    seeded = seed(target, billecta, lime)
    # A creditor id Billecta does not know: Billecta refuses the debtor, nothing is retried forever.
    lime.update("creditor", seeded.creditor_id, {"creditorpublicid": "00000000-0000-0000-0000-000000000000"})
    batch = wait_batch(target, start_command(target, [seeded.order_id]), 90)
    assert batch["status"] == "donewitherror"
    order = lime.get("order", seeded.order_id)
    assert option_key(order["orderstatus"]) == "errorupsert"
    # The user reads Billecta's own answer on the order, and the monitor log says Billecta refused it.
    assert order["billecta_error_message"] != ""
    assert batch["logs"][0]["status"] == "error"
    assert batch["logs"][0]["message"] == (
        f"Billecta refused order {seeded.order_id}: {order['billecta_error_message']}")
    # Nothing was invoiced: the order links no Billecta invoice and Lime got no invoice for it.
    assert order["actionpublicid"] == ""
    assert list(lime.query("invoice", ["_id"], filter={"key": "order", "op": "=", "exp": seeded.order_id})) == []
