"""Every Lime → Billecta batch command of the seed docs, over real processes, with its failure paths.

One stack (SQLite) with ``WORKER_MAX_RETRIES=1`` so outages exhaust their retries in seconds. Each test
presses a command through the gateway, waits for the monitor batch and then checks Lime, Billecta and
the monitor log. The last test replays every request the workers sent to the Billecta sandbox against
Billecta's JSON Schemas (the contract test).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests

from billecta_sync.billecta import BillectaClient
from billecta_sync.billecta.errors import BillectaApiNotFoundException
from billecta_sync.billecta.routes import ROUTES as CLIENT_ROUTES
from billecta_sync.lime import LimeClient
from billecta_sync.lime.values import option_key
from devstack.demo import DemoResult, DemoTarget, find_invoice, seed, start_command, wait_batch
from devstack.stack import Stack
from sandbox.billecta import contract

pytestmark = pytest.mark.slow

INJECTED_MESSAGE = "Injected server error (sandbox error_rate knob)."


@pytest.fixture(scope="module")
def stack(stack_starter: Callable[..., Stack], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = stack_starter(tmp_path_factory.mktemp("stack-outbound"), database_url=None, redis_index=9,
                            extra_env={"WORKER_MAX_RETRIES": "1", "WORKER_RETRY_BACKOFF_MAX_S": "1",
                                       "BILLECTA_API_TIMEOUT_S": "1"})
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def knobs(stack: Stack) -> Iterator[Callable[..., None]]:
    """Set Billecta sandbox fault knobs for one test; they are put back afterwards."""
    url = f"{stack.billecta_admin_url}/config"
    original = requests.get(url, timeout=10).json()["knobs"]

    def configure(**values: Any) -> None:
        requests.post(url, json={"knobs": values}, timeout=10).raise_for_status()

    yield configure
    requests.post(url, json={"knobs": original}, timeout=10).raise_for_status()


def command(target: DemoTarget, path: str, ids: list[int], timeout_s: float = 60) -> dict[str, Any]:
    """Press one batch command for these Lime ids and wait for its monitor batch to settle."""
    resp = requests.post(f"{target.gateway_url}{target.prefix}/task/{path}",
                         json={"integration_monitor_batch_title": f"test {path}",
                               "query_filter": {"key": "_id", "op": "IN", "exp": ids}},
                         headers={"X-API-Key": target.commands_key}, timeout=30)
    assert resp.status_code in (200, 202), resp.text
    return wait_batch(target, int(resp.json()["integration_monitor_batch_id"]), timeout_s)


def one_log(batch: dict[str, Any]) -> dict[str, Any]:
    [log] = batch["logs"]
    return log


def links(lime: LimeClient, limetype: str, key: str, value: int, *props: str) -> list[dict[str, Any]]:
    return list(lime.query(limetype, ["_id", *props], filter={"key": key, "op": "=", "exp": value}))


def second_creditor(billecta: BillectaClient, lime: LimeClient, tag: str) -> int:
    public_id = billecta.create_creditor({"Name": f"Andra AB {tag}", "OrgNo": "556000-0002", "CountryCode": "SE",
                                          "IsEnabled": True})
    return int(lime.create("creditor", {"name": f"Andra AB {tag}", "creditorpublicid": public_id})["_id"])


def attested_invoice(target: DemoTarget, billecta: BillectaClient, lime: LimeClient) -> tuple[DemoResult, dict]:
    """A seeded order sent through the order flow until its invoice is in Lime as sent."""
    seeded = seed(target, billecta, lime)
    assert wait_batch(target, start_command(target, [seeded.order_id]), 60)["status"] == "ok"
    action_id = lime.get("order", seeded.order_id)["actionpublicid"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        invoice = find_invoice(lime, action_id)
        if invoice is not None and option_key(invoice["invoicestatus"]) == "sent":
            return seeded, invoice
        time.sleep(0.2)
    raise AssertionError(f"invoice {action_id} did not reach Lime as sent")


# --- orders ----------------------------------------------------------------------------------------


def test_upsert_only_then_attest_only_attests_exactly_once(target: DemoTarget, billecta: BillectaClient,
                                                           lime: LimeClient) -> None:
    seeded = seed(target, billecta, lime)

    batch = command(target, "upsert-orders-in-billecta", [seeded.order_id])
    assert batch["status"] == "ok"
    order = lime.get("order", seeded.order_id)
    assert option_key(order["orderstatus"]) == "created"
    action_id = order["actionpublicid"]
    assert billecta.get_invoice(action_id)["State"]["Stage"] == "Created"  # not attested by the upsert

    # A changed row is picked up by the next upsert (the draft is still editable).
    row = links(lime, "orderrow", "order", seeded.order_id, "position")[0]
    lime.update("orderrow", row["_id"], {"quantity": 3})
    assert command(target, "upsert-orders-in-billecta", [seeded.order_id])["status"] == "ok"
    assert billecta.get_invoice(action_id)["Records"][0]["Quantity"] == 3

    batch = command(target, "attest-orders-in-billecta", [seeded.order_id])
    assert batch["status"] == "ok"
    assert action_id in one_log(batch)["message"]
    order = lime.get("order", seeded.order_id)
    assert option_key(order["orderstatus"]) == "attested"
    assert order["actionpublicid"] == action_id
    assert billecta.get_invoice(action_id)["State"]["Stage"] in ("Attested", "InvoiceSent")

    again = command(target, "attest-orders-in-billecta", [seeded.order_id])
    assert again["status"] == "ok"
    assert "already attested" in one_log(again)["message"]


def test_attest_only_refuses_an_order_never_sent(target: DemoTarget, billecta: BillectaClient,
                                                 lime: LimeClient) -> None:
    seeded = seed(target, billecta, lime)
    batch = command(target, "attest-orders-in-billecta", [seeded.order_id])

    assert batch["status"] == "donewitherror"
    log = one_log(batch)
    assert log["status"] == "error"
    assert "upsert it first" in log["message"]
    order = lime.get("order", seeded.order_id)
    assert option_key(order["orderstatus"]) == "errorattest"
    assert "upsert it first" in order["billecta_error_message"]
    assert order["actionpublicid"] == ""


# --- debtors ---------------------------------------------------------------------------------------


def test_upsert_debtors_once_per_creditor_and_updates_in_place(target: DemoTarget, billecta: BillectaClient,
                                                               lime: LimeClient) -> None:
    seeded = seed(target, billecta, lime)
    other = second_creditor(billecta, lime, "deb")
    lime.create("creditordebtor", {"creditor": other, "debtor": seeded.debtor_id})

    batch = command(target, "upsert-debtors-in-billecta", [seeded.debtor_id])
    assert batch["status"] == "ok", batch
    related = links(lime, "creditordebtor", "debtor", seeded.debtor_id, "creditor", "debtorpublicid")
    assert len(related) == 2 and all(r["debtorpublicid"] for r in related)
    for link in related:
        remote = billecta.get_debtor(link["debtorpublicid"])
        assert remote["DebtorExternalId"] == str(seeded.debtor_id)
        assert remote["OrgNo"] == "556677-8899"

    lime.update("debtor", seeded.debtor_id, {"name": "Nytt Namn AB"})
    assert command(target, "upsert-debtors-in-billecta", [seeded.debtor_id])["status"] == "ok"
    after = links(lime, "creditordebtor", "debtor", seeded.debtor_id, "debtorpublicid")
    assert sorted(a["debtorpublicid"] for a in after) == sorted(r["debtorpublicid"] for r in related)
    assert {billecta.get_debtor(a["debtorpublicid"])["Name"] for a in after} == {"Nytt Namn AB"}


def test_debtor_rules_and_unknown_creditor_fail_visibly(target: DemoTarget, billecta: BillectaClient,
                                                        lime: LimeClient) -> None:
    seeded = seed(target, billecta, lime)
    private = int(lime.create("debtor", {"name": "Anna Privat", "debtortype": "private"})["_id"])
    lime.create("creditordebtor", {"creditor": seeded.creditor_id, "debtor": private})
    ghost = int(lime.create("creditor", {"name": "Spöke AB",
                                         "creditorpublicid": "00000000-0000-0000-0000-000000000000"})["_id"])
    lime.create("creditordebtor", {"creditor": ghost, "debtor": seeded.debtor_id})

    batch = command(target, "upsert-debtors-in-billecta", [private, seeded.debtor_id])

    assert batch["status"] == "donewitherror"
    by_object = {log["object_id"]: log for log in batch["logs"]}
    assert "neither a person nor a personal identity number" in by_object[str(private)]["message"]
    assert "neither a person" in lime.get("debtor", private)["billecta_error_message"]
    assert links(lime, "creditordebtor", "debtor", private, "debtorpublicid")[0]["debtorpublicid"] == ""
    # The company debtor went through for its real creditor; the unknown creditor is named in the log.
    mixed = by_object[str(seeded.debtor_id)]
    assert mixed["status"] == "error"
    assert "does not exist in Billecta" in mixed["message"]
    related = {r["creditor"]: r for r in links(lime, "creditordebtor", "debtor", seeded.debtor_id, "creditor",
                                               "debtorpublicid", "billecta_error_message")}
    assert related[seeded.creditor_id]["debtorpublicid"] != ""
    assert related[ghost]["debtorpublicid"] == ""
    assert "does not exist in Billecta" in related[ghost]["billecta_error_message"]


def test_billecta_400_is_shown_with_its_message(target: DemoTarget, billecta: BillectaClient,
                                                lime: LimeClient) -> None:
    seeded = seed(target, billecta, lime)
    other = second_creditor(billecta, lime, "x")
    foreign = billecta.create_debtor({"CreditorPublicId": lime.get("creditor", other)["creditorpublicid"],
                                      "Name": "Främling", "DebtorType": "Company"})
    # The relation points at a debtor of another creditor: Billecta refuses to move it (HTTP 400).
    link = links(lime, "creditordebtor", "debtor", seeded.debtor_id)[0]
    lime.update("creditordebtor", link["_id"], {"debtorpublicid": foreign})

    batch = command(target, "upsert-debtors-in-billecta", [seeded.debtor_id])

    assert batch["status"] == "donewitherror"
    assert "can't be moved to another creditor" in one_log(batch)["message"]
    stored = lime.get("creditordebtor", link["_id"])
    assert stored["debtorpublicid"] == foreign  # nothing half-written
    assert "can't be moved to another creditor" in stored["billecta_error_message"]


def test_anonymize_only_synced_debtors(target: DemoTarget, billecta: BillectaClient, lime: LimeClient) -> None:
    seeded = seed(target, billecta, lime)
    assert command(target, "upsert-debtors-in-billecta", [seeded.debtor_id])["status"] == "ok"
    public_id = links(lime, "creditordebtor", "debtor", seeded.debtor_id, "debtorpublicid")[0]["debtorpublicid"]
    never_synced = int(lime.create("debtor", {"name": "Aldrig AB", "ssnregno": "556000-9999"})["_id"])

    batch = command(target, "anonymize-debtors-in-billecta", [seeded.debtor_id, never_synced])

    assert batch["status"] == "ok"
    by_object = {log["object_id"]: log["message"] for log in batch["logs"]}
    assert "anonymised" in by_object[str(seeded.debtor_id)]
    assert "never synced" in by_object[str(never_synced)]
    remote = billecta.get_debtor(public_id)
    assert remote["Name"] == "Anonymized"
    assert remote["Email"] is None and remote["OrgNo"] is None and remote["Address"] is None


# --- articles --------------------------------------------------------------------------------------


def test_upsert_then_delete_articles_and_deactivate_a_used_one(target: DemoTarget, billecta: BillectaClient,
                                                               lime: LimeClient) -> None:
    seeded = seed(target, billecta, lime)
    free, used = seeded.article_ids
    for article_id in (free, used):
        lime.create("creditorarticle", {"creditor": seeded.creditor_id, "article": article_id})

    batch = command(target, "upsert-articles-in-billecta", [free, used])
    assert batch["status"] == "ok"
    product_of = {a: links(lime, "creditorarticle", "article", a, "articlepublicid")[0]["articlepublicid"]
                  for a in (free, used)}
    assert billecta.get_product(product_of[free])["ArticleNumber"].startswith("HYRA-1")
    lime.update("article", free, {"unitprice": 13000})
    assert command(target, "upsert-articles-in-billecta", [free])["status"] == "ok"
    assert billecta.get_product(product_of[free])["UnitPrice"] == 13000

    # Put the second product on an invoice: Billecta then refuses to delete it.
    order = lime.create("order", {"creditor": seeded.creditor_id, "debtor": seeded.debtor_id,
                                  "orderstatus": "created"})
    lime.create("orderrow", {"order": order["_id"], "article": used, "rowtype": "standard", "quantity": 1,
                             "unitprice": 850.5, "vat": 25, "position": 1})
    assert command(target, "upsert-orders-in-billecta", [int(order["_id"])])["status"] == "ok"

    batch = command(target, "delete-articles-in-billecta", [free, used])

    assert batch["status"] == "ok"
    messages = {log["object_id"]: log["message"] for log in batch["logs"]}
    assert "deleted" in messages[str(free)]
    assert "deactivated instead of deleted" in messages[str(used)]
    with pytest.raises(BillectaApiNotFoundException):
        billecta.get_product(product_of[free])
    assert billecta.get_product(product_of[used])["IsActive"] is False
    assert links(lime, "creditorarticle", "article", free, "articlepublicid")[0]["articlepublicid"] == ""
    assert links(lime, "creditorarticle", "article", used, "articlepublicid")[0]["articlepublicid"] == \
        product_of[used]


def test_billecta_outage_and_timeouts_end_in_error_with_nothing_written(
        stack: Stack, target: DemoTarget, billecta: BillectaClient, lime: LimeClient,
        knobs: Callable[..., None]) -> None:
    seeded = seed(target, billecta, lime)
    article = seeded.article_ids[0]
    link = lime.create("creditorarticle", {"creditor": seeded.creditor_id, "article": article})

    knobs(error_rate=1.0)
    batch = command(target, "upsert-articles-in-billecta", [article])
    assert batch["status"] == "donewitherror"
    log = one_log(batch)
    assert log["message"] == INJECTED_MESSAGE
    assert log["attempts"] == 2  # the first run and the one retry WORKER_MAX_RETRIES=1 allows
    assert lime.get("creditorarticle", link["_id"])["articlepublicid"] == ""

    knobs(error_rate=0.0, timeout_rate=1.0, stall_s=3.0)
    batch = command(target, "upsert-debtors-in-billecta", [seeded.debtor_id], timeout_s=90)
    assert batch["status"] == "donewitherror"
    assert "timed out" in one_log(batch)["message"]
    assert links(lime, "creditordebtor", "debtor", seeded.debtor_id, "debtorpublicid")[0]["debtorpublicid"] == ""

    knobs(timeout_rate=0.0)
    assert command(target, "upsert-articles-in-billecta", [article])["status"] == "ok"
    assert lime.get("creditorarticle", link["_id"])["articlepublicid"] != ""


# --- credit invoices -------------------------------------------------------------------------------


def test_credit_invoice_links_the_credit_and_marks_the_original_credited(
        target: DemoTarget, billecta: BillectaClient, lime: LimeClient) -> None:
    seeded, invoice = attested_invoice(target, billecta, lime)

    batch = command(target, "credit-invoices-in-billecta", [invoice["_id"]])

    assert batch["status"] == "ok", batch
    original = lime.get("invoice", invoice["_id"])
    [credit] = links(lime, "invoice", "creditinvoice", invoice["_id"], "invoicedamount", "actionpublicid")
    assert Decimal(str(credit["invoicedamount"])) == -Decimal(str(invoice["invoicedamount"]))
    remote_credit = billecta.get_invoice(credit["actionpublicid"])
    assert remote_credit["ActionType"] == "CreditInvoiceAction"
    assert remote_credit["State"]["Stage"] in ("Attested", "InvoiceSent")
    assert option_key(original["invoicestatus"]) == "credited"
    assert option_key(lime.get("order", seeded.order_id)["orderstatus"]) == "credited"

    again = command(target, "credit-invoices-in-billecta", [invoice["_id"]])
    assert again["status"] == "ok"
    assert "already credited" in one_log(again)["message"]
    assert len(list(lime.query("invoice", ["_id"], filter={"key": "actionpublicid", "op": "=",
                                                            "exp": credit["actionpublicid"]}))) == 1


def test_an_unattested_invoice_cannot_be_credited(target: DemoTarget, billecta: BillectaClient,
                                                  lime: LimeClient) -> None:
    seeded = seed(target, billecta, lime)
    assert command(target, "upsert-orders-in-billecta", [seeded.order_id])["status"] == "ok"
    action_id = lime.get("order", seeded.order_id)["actionpublicid"]
    draft = lime.create("invoice", {"actionpublicid": action_id, "creditor": seeded.creditor_id})

    batch = command(target, "credit-invoices-in-billecta", [int(draft["_id"])])

    assert batch["status"] == "donewitherror"
    assert "does not allow crediting" in one_log(batch)["message"]
    stored = lime.get("invoice", draft["_id"])
    assert links(lime, "invoice", "creditinvoice", int(draft["_id"])) == []
    assert "does not allow crediting" in stored["billecta_error_message"]


# --- creditor, message rows ----------------------------------------------------------------------


def test_update_creditor_sends_lime_fields_and_fills_empty_ones_from_billecta(
        target: DemoTarget, billecta: BillectaClient, lime: LimeClient) -> None:
    seeded = seed(target, billecta, lime)
    lime.update("creditor", seeded.creditor_id, {"name": "Omdöpt Fastighets AB", "phone": "08-123 45 67"})
    resp = requests.post(f"{target.gateway_url}{target.prefix}/task/update-creditor-in-billecta",
                         json={"integration_monitor_batch_title": "Update creditor", "creditor_id": seeded.creditor_id},
                         headers={"X-API-Key": target.commands_key}, timeout=30)
    assert resp.status_code in (200, 202), resp.text
    batch = wait_batch(target, int(resp.json()["integration_monitor_batch_id"]), 60)

    assert batch["status"] == "ok"
    assert batch["operation"] == "update_creditor"
    assert "filled from Billecta: address, zipcode" in one_log(batch)["message"]
    remote = billecta.get_creditor(seeded.creditor_public_id)
    assert (remote["Name"], remote["Phone"]) == ("Omdöpt Fastighets AB", "08-123 45 67")
    assert remote["NextInvoiceNumber"]  # Billecta-owned numbering survived the update
    creditor = lime.get("creditor", seeded.creditor_id)
    assert (creditor["address"], creditor["zipcode"]) == ("Storgatan 1", "11122")
    assert creditor["billecta_error_message"] == ""


def test_update_creditor_unknown_in_billecta_is_an_error_on_the_creditor(target: DemoTarget, lime: LimeClient
                                                                          ) -> None:
    ghost = int(lime.create("creditor", {"name": "Spöke 2 AB",
                                         "creditorpublicid": "00000000-0000-0000-0000-00000000beef"})["_id"])
    resp = requests.post(f"{target.gateway_url}{target.prefix}/task/update-creditor-in-billecta",
                         json={"creditor_id": ghost}, headers={"X-API-Key": target.commands_key}, timeout=30)
    batch = wait_batch(target, int(resp.json()["integration_monitor_batch_id"]), 60)
    assert batch["status"] == "donewitherror"
    assert "does not exist in Billecta" in one_log(batch)["message"]
    assert "does not exist in Billecta" in lime.get("creditor", ghost)["billecta_error_message"]


def test_add_message_row_after_a_row_renumbers_and_reaches_billecta(target: DemoTarget, billecta: BillectaClient,
                                                                    lime: LimeClient) -> None:
    seeded = seed(target, billecta, lime)
    first = min(links(lime, "orderrow", "order", seeded.order_id, "position"), key=lambda r: r["position"])
    resp = requests.post(f"{target.gateway_url}{target.prefix}/add-message-to-orderrow/",
                         json={"orderrow_id": first["_id"], "orderrow_description": "Gäller våning 2"},
                         headers={"X-API-Key": target.commands_key}, timeout=30)
    assert resp.status_code == 200, resp.text
    assert resp.content == b""
    rows = sorted(links(lime, "orderrow", "order", seeded.order_id, "position", "rowtype", "description"),
                  key=lambda r: r["position"])
    assert [r["position"] for r in rows] == [1, 2, 3, 4]
    assert [(option_key(r["rowtype"]), r["description"]) for r in rows[:3]] == [
        ("standard", "Hyra december"), ("message", "Gäller våning 2"), ("message", "Avser lokal 4B")]

    assert wait_batch(target, start_command(target, [seeded.order_id]), 60)["status"] == "ok"
    remote = billecta.get_invoice(lime.get("order", seeded.order_id)["actionpublicid"])
    assert [r["ArticleDescription"] for r in remote["Records"]][:2] == ["Hyra december", "Gäller våning 2"]

    # Attested now: Billecta has locked the rows, so the gateway refuses and Lime is unchanged.
    refused = requests.post(f"{target.gateway_url}{target.prefix}/add-message-to-orderrow/",
                            json={"orderrow_id": first["_id"], "orderrow_description": "För sent"},
                            headers={"X-API-Key": target.commands_key}, timeout=30)
    assert refused.status_code == 409
    assert "can no longer change" in refused.json()["message"]
    assert len(links(lime, "orderrow", "order", seeded.order_id)) == 4


# --- contract --------------------------------------------------------------------------------------


def _client_route(method: str, path: str) -> Any:
    """The client's route for a request the sandbox logged (its path has the /v1 prefix)."""
    relative = path.removeprefix("/v1")
    for route in CLIENT_ROUTES:
        pattern = re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(route.path_template))
        if route.method == method and re.fullmatch(pattern, relative):
            return route
    return None


def test_every_request_the_workers_sent_matches_billectas_schemas(stack: Stack) -> None:
    """Runs last in this module: every body sent above is checked against its Billecta JSON Schema."""
    entries = requests.get(f"{stack.billecta_admin_url}/requests", timeout=30).json()["requests"]
    checked: set[str] = set()
    for entry in entries:
        route = _client_route(entry["method"], entry["path"])
        assert route is not None, f"{entry['method']} {entry['path']} is not in the client's route table"
        # Client and sandbox were written separately; they must agree on which view a call carries.
        assert route.request_view == entry["view"], entry["path"]
        if route.request_view is None:
            continue
        problems = contract.validate(route.request_view, entry["body"])
        assert problems == [], f"{entry['method']} {entry['path']}: {problems}"
        checked.add(route.name)
    # The run above used every body-carrying operation of the outbound sync.
    assert {"creditor.create", "debtor.create", "debtor.update", "product.create", "product.update",
            "invoice.create", "invoice.update"} <= checked
    assert any(e["route"] == "anonymize_debtor" and e["status"] == 200 for e in entries)
