"""What a Lime debtor and its creditor relation (creditordebtor) get from Billecta's debtor view, and what a
burst of Billecta's debtor events asks of Lime."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from billecta_sync.container import Services
from billecta_sync.usecases.billecta_to_lime.debtors import (
    _changed,
    autogiro_link_values,
    lime_debtor_values,
    sync_debtor_from_billecta,
)
from tests.unit.fakes import FakeBillecta, FakeLime


def test_debtor_view_gives_the_lime_debtor_fields() -> None:
    values = lime_debtor_values({"Name": " Kund AB ", "OrgNo": "556677-8899", "Email": None,
                                 "ContactEmail": "info@kund.se", "Phone": "08-123", "CountryCode": "se",
                                 "DebtorType": "Private", "City": "Lund"})
    assert values["name"] == "Kund AB" and values["email"] == "info@kund.se"
    assert values["countrycode"] == "SE" and values["debtortype"] == "private"
    assert values["ssnregno"] == "556677-8899" and values["maincontactphone"] == "08-123"


def test_only_changed_debtor_fields_are_written() -> None:
    existing = {"name": "Kund AB", "city": "Lund", "debtortype": {"key": "company", "id": 2}, "email": None}
    assert _changed(existing, {"name": "Kund AB", "city": "Malmö", "debtortype": "company", "email": ""}) == {
        "city": "Malmö"}


# ---- autogiro on creditordebtor -----------------------------------------------------------------


@pytest.mark.parametrize(("stage", "active", "expected"), [
    ("Approved", True, {"autogirostatus": "approved", "autogiroactive": True}),
    ("Pending", False, {"autogirostatus": "pending", "autogiroactive": False}),
    ("Failed", False, {"autogirostatus": "failed", "autogiroactive": False}),
    ("Removed", False, {"autogirostatus": "removed", "autogiroactive": False}),
    (1, True, {"autogirostatus": "approved", "autogiroactive": True}),
    ("Migration", True, {"autogiroactive": True}),  # no Lime option: the status is left as it is
])
def test_debtor_autogiro_gives_the_link_status_and_active_flag(stage: Any, active: bool,
                                                              expected: dict[str, Any]) -> None:
    assert autogiro_link_values({"Autogiro": {"Active": active, "Stage": stage}}) == expected


def test_a_debtor_without_a_mandate_is_not_active_and_an_unset_flag_is_not_rewritten() -> None:
    assert autogiro_link_values({"Autogiro": None}) == {"autogiroactive": False}
    assert _changed({"autogiroactive": None, "autogirostatus": None}, {"autogiroactive": False}) == {}
    link = {"autogiroactive": False, "autogirostatus": {"key": "pending", "text": "Pending"}}
    assert _changed(link, {"autogirostatus": "approved", "autogiroactive": True}) == {
        "autogirostatus": "approved", "autogiroactive": True}
    assert _changed(link, {"autogirostatus": "pending", "autogiroactive": False}) == {}


# ---- DebtorUpdated events ------------------------------------------------------------------------


def test_a_burst_of_debtor_events_finds_their_lime_links_in_one_query_and_updates_each_debtor(
        services: Services, fake_lime: FakeLime, fake_billecta: FakeBillecta) -> None:
    creditor = fake_billecta.add_creditor()
    debtors: dict[str, int] = {}
    for n in range(10):
        public_id = fake_billecta.create_debtor({"CreditorPublicId": creditor, "Name": f"Kund {n} AB",
                                                 "City": "Malmö", "CountryCode": "SE"})
        debtors[public_id] = fake_lime.add("debtor", name=f"Kund {n} AB", city="Lund", countrycode="SE")
        fake_lime.add("creditordebtor", debtor=debtors[public_id], debtorpublicid=public_id)
    fake_lime.reads.clear()
    start = threading.Barrier(len(debtors))
    outcomes: dict[str, str] = {}

    def event(public_id: str) -> None:
        start.wait()  # a bulk upsert's events arrive together, one thread each
        outcomes[public_id] = sync_debtor_from_billecta(services, public_id)

    threads = [threading.Thread(target=event, args=(public_id,)) for public_id in debtors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert fake_lime.reads.count("query creditordebtor") < len(debtors) / 2, fake_lime.reads
    assert all(fake_lime.obj("debtor", lime_id)["city"] == "Malmö" for lime_id in debtors.values())
    assert all("updated (city)" in outcomes[public_id] for public_id in debtors), outcomes
