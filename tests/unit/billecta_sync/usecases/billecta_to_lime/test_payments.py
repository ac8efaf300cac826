"""Write-offs, credits and payments from Billecta into Lime (payment rows): the values derived, when Lime is
written, and what it is asked."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any, cast

from billecta_sync.db import Database
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.usecases.billecta_to_lime.invoices import sync_invoice_from_billecta
from billecta_sync.usecases.billecta_to_lime.payments import adjustment_values, last_event_day, sync_invoice_adjustments
from tests.unit.fakes import FakeBillecta, FakeLime, make_services, option, settings_for

ACTION = "7f0e3c1a-2b4d-4e6f-8a9b-0c1d2e3f4a5b"
LINKS = {"creditor": 11, "debtor": 22, "had_adjustments": False}
TODAY = date(2026, 3, 15)


def sek(ore: int) -> dict[str, Any]:
    return {"CurrencyCode": "SEK", "Value": ore, "ValueForView": ore / 100}


def event(event_type: str, when: str) -> dict[str, Any]:
    return {"EventPublicId": f"{event_type}-{when}", "EventType": event_type, "EventDate": when, "Title": ""}


def invoice(written_off: int = 0, credited: int = 0, events: list[dict[str, Any]] | None = None,
            **extra: Any) -> dict[str, Any]:
    return {"ActionPublicId": ACTION, "ActionType": "InvoiceAction", "InvoicedAmount": sek(100000),
            "WriteOffAmount": sek(written_off), "CreditedAmount": sek(credited), "Events": events or [], **extra}


class FakeRepo:
    """The part of LimeRepo the adjustments use, in memory, counting what is sent to Lime."""

    def __init__(self) -> None:
        self.rows: dict[int, dict[str, Any]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def find(self, logical_type: str, criteria: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        self.calls.append(("find", dict(criteria)))
        return iter([dict(r) for r in self.rows.values() if all(r.get(k) == v for k, v in criteria.items())])

    def create(self, logical_type: str, values: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append(("create", dict(values)))
        row = {**values, "_id": len(self.rows) + 1}
        self.rows[row["_id"]] = row
        return dict(row)

    def update(self, logical_type: str, object_id: int, values: Mapping[str, Any]) -> None:
        if values:  # LimeRepo.update sends nothing for nothing
            self.calls.append(("update", dict(values)))
            self.rows[object_id].update(values)

    def writes(self) -> list[tuple[str, dict[str, Any]]]:
        return [c for c in self.calls if c[0] != "find"]


def run(repo: FakeRepo, view: dict[str, Any], links: dict[str, Any] = LINKS, today: date = TODAY) -> str:
    def known() -> dict[str, dict[str, Any]]:
        return {str(p.get("paymentbillectaid")): p for p in repo.find("payment", {"invoice": 5})}

    return sync_invoice_adjustments(cast(LimeRepo, repo), view, 5, links, known, today=today)


def by_kind(repo: FakeRepo) -> dict[str, tuple[float, Any]]:
    return {r["paymenttype"]: (r["amount"], r["paymentdate"]) for r in repo.rows.values()}


# ---- derived values -----------------------------------------------------------------------------


def test_rows_carry_the_totals_in_kronor_with_ids_per_invoice_and_kind() -> None:
    view = invoice(written_off=10050, credited=50000, events=[event("Credited", "2026-02-03T10:00:00")])

    writeoff, credit = adjustment_values(view, 5, LINKS)

    assert (writeoff["paymentbillectaid"], writeoff["paymenttype"], writeoff["amount"]) == (
        f"{ACTION}:writeoff", "writeoff", 100.5)
    assert (credit["paymentbillectaid"], credit["paymenttype"], credit["amount"]) == (
        f"{ACTION}:credit", "credit", 500.0)
    assert credit["paymentdate"] == "2026-02-03" and writeoff["paymentdate"] is None
    assert all((r["invoice"], r["creditor"], r["debtor"], r["handled"], r["currencycode"]) == (5, 11, 22, True, "SEK")
               for r in (writeoff, credit))


def test_a_credit_invoice_shows_its_negative_credit_as_a_positive_row() -> None:
    view = invoice(credited=-50000, ActionType="CreditInvoiceAction", InvoicedAmount=sek(-50000))

    assert adjustment_values(view, 5, LINKS)[1]["amount"] == 500.0


def test_the_newest_matching_event_dates_the_row() -> None:
    events = [event("WrittenOff", "2026-01-05T09:00:00"), event("WrittenOff", "2026-02-20T23:59:00Z"),
              event("Paid", "2026-03-01T08:00:00"), event("WrittenOff", "2026-01-30T12:00:00")]

    assert last_event_day(invoice(events=events), "WrittenOff") == date(2026, 2, 20)
    assert last_event_day(invoice(events=events), "Credited") is None


# ---- writing to Lime ----------------------------------------------------------------------------


def test_an_invoice_without_write_off_or_credit_costs_no_lime_request() -> None:
    repo = FakeRepo()

    assert run(repo, invoice()) == ""
    assert repo.calls == []


def test_a_write_off_becomes_one_row_and_a_rerun_changes_nothing() -> None:
    repo = FakeRepo()
    view = invoice(written_off=10000, events=[event("WrittenOff", "2026-03-02T14:00:00")])

    run(repo, view)
    assert by_kind(repo) == {"writeoff": (100.0, "2026-03-02")}  # no credit row of 0

    before = len(repo.writes())
    assert "0 created, 0 updated, 1 unchanged" in run(repo, view, today=date(2026, 4, 1))
    assert len(repo.writes()) == before


def test_a_second_write_off_raises_the_running_total_and_its_date() -> None:
    repo = FakeRepo()
    run(repo, invoice(written_off=10000, events=[event("WrittenOff", "2026-03-02T14:00:00")]))
    run(repo, invoice(written_off=25000, events=[event("WrittenOff", "2026-03-02T14:00:00"),
                                                 event("WrittenOff", "2026-03-10T08:00:00")]))

    assert by_kind(repo) == {"writeoff": (250.0, "2026-03-10")}
    assert len(repo.rows) == 1


def test_a_total_back_at_zero_updates_the_row_to_zero_instead_of_deleting_it() -> None:
    repo = FakeRepo()
    run(repo, invoice(credited=50000, events=[event("Credited", "2026-03-02T14:00:00")]))

    # Billecta now shows no credit; the Lime invoice still had one, so the rows are looked at.
    run(repo, invoice(events=[event("Credited", "2026-03-02T14:00:00")]), links={**LINKS, "had_adjustments": True})

    assert by_kind(repo) == {"credit": (0.0, "2026-03-02")}


def test_without_an_event_the_row_is_dated_today_and_keeps_that_day() -> None:
    repo = FakeRepo()
    view = invoice(credited=-50000, ActionType="CreditInvoiceAction")

    run(repo, view, today=TODAY)
    run(repo, view, today=date(2026, 3, 20))

    assert by_kind(repo) == {"credit": (500.0, "2026-03-15")}
    assert [c[0] for c in repo.writes()] == ["create"]


# ---- an invoice refresh with both: write-offs and payments ---------------------------------------------


def test_a_payment_on_an_invoice_with_a_write_off_reads_the_invoices_lime_payments_once(tmp_path: Path,
                                                                                        db: Database) -> None:
    lime, billecta = FakeLime(), FakeBillecta()
    services = make_services(settings_for(tmp_path), db, lime=lime, billecta=billecta)
    action = billecta.create_invoice({"CreditorPublicId": "cr-1", "DebtorPublicId": "de-1",
                                      "InvoicedAmount": sek(100000), "InvoiceDate": "2026-01-31"})
    # Lime shows the invoice as it was: part paid (one payment) and part written off.
    creditor = lime.add("creditor", creditorpublicid="cr-1")
    debtor = lime.add("debtor", name="Kund AB")
    invoice_id = lime.add("invoice", actionpublicid=action, creditor=creditor, debtor=debtor,
                          invoicestatus=option("sent"), paidamount=400.0, writtenoffamount=100.0)
    lime.add("payment", paymentbillectaid="ref-1", paymenttype=option("payment"), amount=400.0, invoice=invoice_id)
    lime.add("payment", paymentbillectaid=f"{action}:writeoff", paymenttype=option("writeoff"), amount=100.0,
             invoice=invoice_id, paymentdate="2026-02-10")
    # Billecta now: a second payment has come in, the write-off is unchanged.
    billecta.invoices[action].update({"State": {"Stage": "Attested"}, "PaidAmount": sek(70000),
                                      "WriteOffAmount": sek(10000),
                                      "Events": [event("WrittenOff", "2026-02-10T09:00:00")]})
    billecta.routes["payments.incoming"] = [
        {"PaymentReferenceId": ref, "ActionPublicId": action, "Amount": sek(ore), "PaymentDate": day,
         "CreatedDate": day, "PaymentMeanCode": "BG"}
        for ref, ore, day in (("ref-1", 40000, "2026-02-01"), ("ref-2", 30000, "2026-02-20"))]
    lime.reads.clear()

    outcome = sync_invoice_from_billecta(services, action, with_payments=True)

    assert lime.reads.count("query payment") == 1, lime.reads  # one read serves the write-off and the payments
    payments = {p["paymentbillectaid"]: p["amount"] for p in lime.all("payment")}
    assert payments == {"ref-1": 400.0, "ref-2": 300.0, f"{action}:writeoff": 100.0}  # none doubled, none lost
    assert "write-offs and credits: 0 created" in outcome and "payments: 1 created" in outcome
