"""Write-offs and credits from Billecta into Lime (payment rows): the values derived and when Lime is written."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any, cast

from billecta_sync.lime_repo import LimeRepo
from billecta_sync.usecases.billecta_to_lime.payments import adjustment_values, last_event_day, sync_invoice_adjustments

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
    return sync_invoice_adjustments(cast(LimeRepo, repo), view, 5, links, today=today)


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
