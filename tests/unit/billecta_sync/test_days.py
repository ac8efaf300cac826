"""Money is booked on Billecta's day, which is Swedish time: on a server whose clock runs on UTC, the hour
after Swedish midnight already belongs to the next day."""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo

import pytest

from billecta_sync import days
from billecta_sync.usecases.billecta_to_lime.invoice_state import invoice_status


def clock_at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    class Frozen(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> Frozen:  # type: ignore[override]
            return moment.astimezone(tz)  # type: ignore[return-value]

    monkeypatch.setattr(days, "datetime", Frozen)


@pytest.mark.parametrize(("utc", "swedish_day"), [
    (datetime(2026, 12, 1, 22, 59, tzinfo=UTC), date(2026, 12, 1)),   # 23:59 in Stockholm (winter, +1)
    (datetime(2026, 12, 1, 23, 30, tzinfo=UTC), date(2026, 12, 2)),   # 00:30 in Stockholm
    (datetime(2026, 7, 1, 22, 30, tzinfo=UTC), date(2026, 7, 2)),     # 00:30 in Stockholm (summer, +2)
    (datetime(2026, 7, 1, 21, 30, tzinfo=UTC), date(2026, 7, 1)),     # 23:30 in Stockholm
])
def test_today_is_the_swedish_calendar_day(monkeypatch: pytest.MonkeyPatch, utc: datetime,
                                           swedish_day: date) -> None:
    clock_at(monkeypatch, utc)
    assert days.today() == swedish_day


def test_just_after_swedish_midnight_an_invoice_due_yesterday_stays_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    invoice = {"State": {"Stage": "InvoiceSent"}, "DueDate": "2026-12-01T00:00:00",
               "InvoicedAmount": {"Value": 10000}, "PaidAmount": {"Value": 0}, "CurrentAmount": {"Value": 10000}}
    clock_at(monkeypatch, datetime(2026, 12, 1, 23, 30, tzinfo=UTC))  # still 1 December on the UTC clock
    assert invoice_status(invoice, previous="expired") == "expired"
    clock_at(monkeypatch, datetime(2026, 12, 1, 22, 30, tzinfo=UTC))  # 23:30 in Stockholm: due today
    assert invoice_status(invoice, previous="expired") == "sent"
