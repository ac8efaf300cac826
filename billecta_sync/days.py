"""The calendar day money is booked on: Billecta's, which is Swedish time, whatever zone this machine's clock
is set to. A server on UTC is an hour or two behind Stockholm, so between midnight and 01:00 (02:00 in summer)
its own date is yesterday's: a payment registered then would be dated a day early and an invoice due
yesterday would not yet count as overdue."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

#: Billecta's time zone (the tz database comes with the ``tzdata`` package, so no machine lacks it)
BILLECTA_TZ = ZoneInfo("Europe/Stockholm")


def today() -> date:
    """Today in Billecta's time zone."""
    return datetime.now(BILLECTA_TZ).date()
