"""Change-driven Lime → Billecta sync over real processes: the Lime sandbox's signed webhooks, registered
with ``billecta-sync lime subscribe``, reach Billecta through the gateway's lime-webhook-receiver."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from billecta_sync.billecta import BillectaClient
from billecta_sync.lime import LimeClient
from cli.main import main as cli
from devstack.demo import DemoTarget, seed, wait_batch
from devstack.stack import Stack
from tests.e2e.support import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(stack_starter: Callable[..., Stack], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = stack_starter(tmp_path_factory.mktemp("stack-lime-changes"), database_url=None, redis_index=6)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def receiver(stack: Stack) -> str:
    return f"{stack.gateway_url}{stack.config.prefix}/lime-webhook-receiver"


@pytest.fixture(scope="module")
def subscribed(stack: Stack, receiver: str) -> dict[str, Any]:
    """Seeding happens before this, so that only the changes a test makes are delivered."""
    result = CliRunner().invoke(cli, ["lime", "subscribe", "--target-url", receiver], env=stack.env())
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


# Change-driven sync answers within seconds; waiting longer than this would hide a stall.
eventually = partial(wait_for, timeout_s=45, interval_s=0.25)


def command(target: DemoTarget, path: str, ids: list[int]) -> dict[str, Any]:
    resp = requests.post(f"{target.gateway_url}{target.prefix}/task/{path}",
                         json={"query_filter": {"key": "_id", "op": "IN", "exp": ids}},
                         headers={"X-API-Key": target.commands_key}, timeout=30)
    assert resp.status_code in (200, 202), resp.text
    return wait_batch(target, int(resp.json()["integration_monitor_batch_id"]), 60)


def inbox_rows(stack: Stack, **params: Any) -> list[dict[str, Any]]:
    resp = requests.get(f"{stack.gateway_url}{stack.config.prefix}/operator/inbox",
                        params={"source": "lime", "limit": 1000, **params},
                        headers={"X-API-Key": stack.config.operator_key}, timeout=10)
    resp.raise_for_status()
    body = resp.json()
    return body.get("items", body.get("rows", body)) if isinstance(body, dict) else body


def debtor_public_id(lime: LimeClient, debtor_id: int) -> str:
    [link] = lime.query("creditordebtor", ["debtorpublicid"], filter={"key": "debtor", "op": "=", "exp": debtor_id})
    return str(link["debtorpublicid"])


def test_subscribe_registers_the_synced_events_once(stack: Stack, lime: LimeClient, receiver: str,
                                                    subscribed: dict[str, Any]) -> None:
    assert {"debtor.update", "orderrow.new", "orderrow.update", "person.update", "creditorarticle.new"} <= \
        set(subscribed["created"])
    again = CliRunner().invoke(cli, ["lime", "subscribe", "--target-url", receiver], env=stack.env())
    assert again.exit_code == 0, again.output
    assert '"created": []' in again.output
    mine = [s for s in lime.list_subscriptions() if s.get("target_url") == receiver]
    assert len(mine) == 1


def test_changed_debtor_field_reaches_billecta_and_unsynced_changes_do_not(
        stack: Stack, target: DemoTarget, billecta: BillectaClient, lime: LimeClient,
        subscribed: dict[str, Any]) -> None:
    seeded = seed(target, billecta, lime)
    assert command(target, "upsert-debtors-in-billecta", [seeded.debtor_id])["status"] == "ok"
    public_id = debtor_public_id(lime, seeded.debtor_id)
    requests_before = len(requests.get(f"{stack.billecta_admin_url}/requests",
                                       params={"route": "update_debtor"}, timeout=10).json()["requests"])

    lime.update("debtor", seeded.debtor_id, {"billecta_error_message": "just a note"})  # not sent to Billecta
    lime.update("debtor", seeded.debtor_id, {"city": "Malmö"})

    eventually(lambda: billecta.get_debtor(public_id)["City"] == "Malmö", "the new city in Billecta")
    updates = requests.get(f"{stack.billecta_admin_url}/requests", params={"route": "update_debtor"},
                           timeout=10).json()["requests"]
    # Only the city change was sent (plus the upsert's own writes coming back, which change nothing).
    assert len(updates) - requests_before == 1


def test_order_row_changes_and_moves_resync_both_orders(target: DemoTarget, billecta: BillectaClient,
                                                        lime: LimeClient, subscribed: dict[str, Any]) -> None:
    seeded = seed(target, billecta, lime, orders=2)
    orders = sorted(o["_id"] for o in lime.query("order", ["_id"], filter={"key": "creditor", "op": "=",
                                                                             "exp": seeded.creditor_id}))
    first, second = orders
    assert command(target, "upsert-orders-in-billecta", orders)["status"] == "ok"
    action = {o: lime.get("order", o)["actionpublicid"] for o in orders}

    rows = sorted(lime.query("orderrow", ["_id", "position"], filter={"key": "order", "op": "=", "exp": first}),
                  key=lambda r: r["position"])
    lime.update("orderrow", rows[0]["_id"], {"quantity": 5})
    eventually(lambda: billecta.get_invoice(action[first])["Records"][0]["Quantity"] == 5,
               "the changed quantity in Billecta")

    lime.update("orderrow", rows[2]["_id"], {"order": second, "position": 4})
    eventually(lambda: len(billecta.get_invoice(action[first])["Records"]) == 2
               and len(billecta.get_invoice(action[second])["Records"]) == 4, "the moved row in both invoices")


def test_attested_orders_are_not_resent_by_row_changes(stack: Stack, target: DemoTarget, billecta: BillectaClient,
                                                       lime: LimeClient, subscribed: dict[str, Any]) -> None:
    seeded = seed(target, billecta, lime)
    assert command(target, "upsert-attest-orders-in-billecta", [seeded.order_id])["status"] == "ok"
    action_id = lime.get("order", seeded.order_id)["actionpublicid"]
    [row] = list(lime.query("orderrow", ["_id"], filter={"op": "AND", "exp": [
        {"key": "order", "op": "=", "exp": seeded.order_id}, {"key": "position", "op": "=", "exp": 1}]}))
    lime.update("orderrow", row["_id"], {"quantity": 9})

    def handled() -> dict[str, Any] | None:
        for item in inbox_rows(stack):
            if item.get("object_key") == f"orderrow:{row['_id']}" and item.get("status") == "processed":
                return item
        return None

    eventually(handled, "the row change to be handled")
    assert billecta.get_invoice(action_id)["Records"][0]["Quantity"] == 1  # locked in Billecta, not touched


def test_anonymised_person_anonymises_its_debtors(target: DemoTarget, billecta: BillectaClient,
                                                  lime: LimeClient, subscribed: dict[str, Any]) -> None:
    seeded = seed(target, billecta, lime)
    person = lime.create("person", {"firstname": "Eva", "lastname": "Ek", "email": "eva@example.se"})
    debtor = int(lime.create("debtor", {"name": "Eva Ek", "debtortype": "private", "person": person["_id"],
                                        "email": "eva@example.se"})["_id"])
    lime.create("creditordebtor", {"creditor": seeded.creditor_id, "debtor": debtor})
    eventually(lambda: debtor_public_id(lime, debtor), "the new debtor to be synced by its new relation")
    public_id = debtor_public_id(lime, debtor)
    assert billecta.get_debtor(public_id)["Email"] == "eva@example.se"

    lime.update("person", person["_id"], {"anonymized": True})

    eventually(lambda: billecta.get_debtor(public_id)["Name"] == "Anonymized", "the debtor to be anonymised")
    assert billecta.get_debtor(public_id)["Email"] is None


def test_unsigned_delivery_is_refused_and_lime_rows_can_be_replayed(stack: Stack, receiver: str,
                                                                    subscribed: dict[str, Any]) -> None:
    before = len(inbox_rows(stack))
    resp = requests.post(receiver, json={"event": "debtor.update", "body": {"id": 1, "values": {}}}, timeout=10)
    assert resp.status_code == 401
    assert len(inbox_rows(stack)) == before

    rows = [r for r in inbox_rows(stack) if r.get("status") == "processed"]
    assert rows
    replay = requests.post(f"{stack.gateway_url}{stack.config.prefix}/operator/inbox/replay",
                           json={"ids": [rows[0]["id"]]}, headers={"X-API-Key": stack.config.operator_key},
                           timeout=10)
    assert replay.status_code == 200
    assert replay.json()["ids"] == [rows[0]["id"]]
    eventually(lambda: any(r["id"] == rows[0]["id"] and r["status"] in ("processed", "duplicate")
                           for r in inbox_rows(stack)), "the replayed row to be processed again")
