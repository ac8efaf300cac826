"""Billecta's today, for tests that compare dates the Billecta sandbox wrote: Swedish time, which for an hour or
two after midnight is a day ahead of a machine on UTC. Worked out here on its own, not by the service's code."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo


def billecta_today() -> date:
    return datetime.now(ZoneInfo("Europe/Stockholm")).date()
