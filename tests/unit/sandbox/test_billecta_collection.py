"""Pieces behind the Billecta sandbox's collection controls, files and documented webhooks: the provenance of
the new routes (it must be the client's route table's), the listing of every served route, the outbox's
contract check of data objects, the hand-written PDF and the ``days`` rule."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import datetime

import pytest
from pypdf import PdfReader

from billecta_sync.billecta.routes import ROUTES
from sandbox.billecta.app import BillectaSandbox, BillectaSandboxConfig
from sandbox.billecta.outbox import DataObject
from sandbox.billecta.state.controls import MAX_POSTPONE_DAYS, positive_days
from sandbox.billecta.state.core import BillectaError
from sandbox.billecta.state.pdf import Line, render

CREDITOR = "5f1c6a52-3b0e-4c55-9a61-0b5b8c0e9a11"
# Sandbox route -> the client's route it stands in for.
NEW_ROUTES = {
    "pause_invoice": "invoice.pause",
    "resume_invoice": "invoice.resume",
    "dispute_invoice": "invoice.dispute",
    "undispute_invoice": "invoice.undispute",
    "postpone_invoice": "invoice.postpone",
    "send_reminder_invoice": "invoice.send_reminder",
    "debt_collection_from_invoice": "invoice.send_to_debt_collection",
    "get_debt_collection": "debtcollection.get",
    "postpone_debt_collection": "debtcollection.postpone",
    "cancel_debt_collection": "debtcollection.cancel",
    "debt_collection_long_term_surveillance": "debtcollection.long_term_surveillance",
    "debt_collection_bailiff": "debtcollection.bailiff",
    "debt_collection_assistance_with_bailiff": "debtcollection.assistance_with_bailiff",
    "get_file": "files.file.get",
    "get_file_object": "files.fileobject.get",
}
MARKER = {"verified": "V", "partly": "P", "unverified": "U"}


@pytest.fixture
def sandbox() -> Iterator[BillectaSandbox]:
    fake = BillectaSandbox(BillectaSandboxConfig(webhook_url="http://127.0.0.1:9/unused", auto_send_delay_s=-1,
                                                 webhook_payload_style="documented"))
    fake.sender.paused = True
    yield fake
    fake.sender.clear()


def _shape(path: str) -> str:
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


def test_new_routes_carry_the_provenance_of_the_clients_route_table(sandbox: BillectaSandbox) -> None:
    served = {r.name: r for r in sandbox.routes()}
    client = {r.name: r for r in ROUTES}
    for name, client_name in NEW_ROUTES.items():
        route, theirs = served[name], client[client_name]
        assert (route.method, _shape(route.rule)) == (theirs.method, _shape("/v1" + theirs.path_template)), name
        assert route.status == MARKER[theirs.status], name
        assert route.request_view == theirs.request_view, name
        if route.status != "V":
            assert client_name in route.source and "partly" in route.source, name


def test_all_routes_listing_shows_the_unlisted_ones_with_their_provenance(sandbox: BillectaSandbox) -> None:
    client = sandbox.app.test_client()
    listed = client.get("/_sandbox/routes").get_json()
    everything = client.get("/_sandbox/routes?all=true").get_json()
    assert {r["name"] for r in listed} < {r["name"] for r in everything}
    by_name = {r["name"]: r for r in everything}
    assert set(NEW_ROUTES) <= set(by_name)
    assert (by_name["pause_invoice"]["status"], by_name["pause_invoice"]["listed"]) == ("P", False)
    assert by_name["get_file"]["status"] == "V" and by_name["create_invoice"]["listed"] is True


def test_a_data_object_that_breaks_its_view_is_not_sent_but_reported(sandbox: BillectaSandbox) -> None:
    sandbox.outbox.data_objects["DebtorCreated"] = DataObject(
        "DebtorView", lambda ids, context: ({"Name": 5}, None), documented=False)
    sandbox._on_event("DebtorCreated", {"CreditorPublicId": CREDITOR, "DebtorPublicId": CREDITOR})
    assert sandbox.sender.deliveries() == []
    [problem] = sandbox.outbox.problems
    assert problem["trigger"] == "DebtorCreated" and any("$.Name" in p for p in problem["problems"])
    listed = sandbox.app.test_client().get("/_sandbox/webhooks").get_json()
    assert listed["contract_problems"] == [problem]

    sandbox.config.validate_responses = False  # benchmarks skip the check: the body goes out as built
    sandbox._on_event("DebtorCreated", {"CreditorPublicId": CREDITOR, "DebtorPublicId": CREDITOR})
    assert json.loads(sandbox.sender.deliveries()[-1].body)["Data"] == {"Name": 5}


def test_a_trigger_whose_entity_is_unknown_sends_its_ids(sandbox: BillectaSandbox) -> None:
    ids = {"CreditorPublicId": CREDITOR, "ActionPublicId": "404"}
    sandbox._on_event("InvoiceActionAttested", ids)
    body = json.loads(sandbox.sender.deliveries()[-1].body)
    assert body == {"WebhookTriggerType": "InvoiceActionAttested", "Data": ids, "SecondValue": None}
    assert sandbox.outbox.problems == []


def test_hand_written_pdf_is_valid_and_keeps_its_text() -> None:
    lines = [Line("Faktura (kopia)", size=20, bold=True), Line("C:\\väg\\ÅÄÖ åäö é €"), Line("snowman ☃")]
    lines += [Line(f"rad {n}") for n in range(200)]  # far more than a page: the rest is left out
    created = datetime.fromisoformat("2026-05-01T12:00:00+02:00")
    data = render(lines, title="Faktura (1001)", created=created)
    assert data == render(lines, title="Faktura (1001)", created=created)  # same input, same bytes
    reader = PdfReader(io.BytesIO(data), strict=True)
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    assert "Faktura (kopia)" in text and "C:\\väg\\ÅÄÖ åäö é €" in text and "snowman ?" in text
    assert "rad 0" in text and "rad 199" not in text
    assert reader.metadata is not None and reader.metadata.title == "Faktura (1001)"


@pytest.mark.parametrize("value", ["1", "30", " 7 ", 5, str(MAX_POSTPONE_DAYS)])
def test_positive_days_accepts_whole_positive_days(value: object) -> None:
    assert positive_days(value) == int(str(value))


@pytest.mark.parametrize("value", [None, "", "0", "-2", "1.5", "abc", "1e3", str(MAX_POSTPONE_DAYS + 1)])
def test_positive_days_refuses_everything_else(value: object) -> None:
    with pytest.raises(BillectaError) as refused:
        positive_days(value)
    assert refused.value.status == 400 and "days" in refused.value.message
