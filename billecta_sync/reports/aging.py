"""Aging of receivables: days overdue and the buckets of the summary (not due, 1-30, 31-60, 61-90, > 90)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

#: (key, label, lowest days overdue, highest or None)
BUCKETS: tuple[tuple[str, str, int, int | None], ...] = (
    ("not_due", "Not due", -10**9, 0),
    ("d1_30", "1-30 days", 1, 30),
    ("d31_60", "31-60 days", 31, 60),
    ("d61_90", "61-90 days", 61, 90),
    ("d90_plus", "> 90 days", 91, None),
)


def days_overdue(due: date, at: date) -> int:
    """Days past the due date at ``at``; 0 on the due date and before it (not due)."""
    return max((at - due).days, 0)


def bucket_of(days: int) -> str:
    for key, _label, low, high in BUCKETS:
        if days >= low and (high is None or days <= high):
            return key
    raise AssertionError("unreachable: the buckets cover every day count")  # pragma: no cover


def summarize(rows: Iterable[Mapping[str, Any]]) -> dict[str, tuple[int, int]]:
    """Per bucket: (number of invoices, remaining amount in minor units), every bucket present."""
    counts = {key: [0, 0] for key, *_ in BUCKETS}
    for row in rows:
        entry = counts[bucket_of(int(row["days_overdue"]))]
        entry[0] += 1
        entry[1] += int(row["remaining"])
    return {key: (n, total) for key, (n, total) in counts.items()}


def label(key: str) -> str:
    return next(lbl for k, lbl, *_ in BUCKETS if k == key)
