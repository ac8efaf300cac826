"""The shape every report is gathered into before it is formatted: tables of typed columns and a summary.

Money is an ``int`` of minor units (öre) everywhere here; only the renderers turn it into a number to show.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

ColumnKind = Literal["text", "date", "money", "int"]
COLUMN_KINDS: tuple[ColumnKind, ...] = ("text", "date", "money", "int")
FILE_FORMATS = ("xlsx", "pdf")
#: (rows done, rows in all) while a report is gathered or rendered
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    kind: ColumnKind = "text"
    #: summed in the table's totals row (money and int columns only)
    total: bool = False
    #: relative width in a PDF table (0: by kind)
    weight: float = 0


@dataclass
class Table:
    title: str
    columns: Sequence[Column]
    rows: list[Mapping[str, Any]] = field(default_factory=list)

    def totals(self) -> dict[str, int]:
        """The sum of every ``total`` column (exact: ints of minor units)."""
        return {c.key: sum(int(row.get(c.key) or 0) for row in self.rows) for c in self.columns if c.total}

    @property
    def has_totals(self) -> bool:
        return any(c.total for c in self.columns)


@dataclass
class Report:
    name: str
    title: str
    creditor: str
    period: str
    generated_at: datetime
    currency: str = "SEK"
    #: (label, amount in minor units) shown above the tables
    summary: list[tuple[str, int]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)

    def filename(self, file_format: str) -> str:
        stamp = self.generated_at.strftime("%Y%m%d-%H%M%S")
        return f"{self.name}-{stamp}.{file_format}"


def minor(value: Any) -> int:
    """Minor units from a Billecta AmountView (``{"Value": öre}``), an int of öre, or None."""
    if value is None:
        return 0
    if isinstance(value, Mapping):
        return int(value.get("Value") or 0)
    return int(value)


def minor_from_major(value: Any) -> int:
    """Minor units from a Lime decimal in major units (``1250.5`` → 125050), exactly (through ``str``)."""
    if value in (None, ""):
        return 0
    return int((Decimal(str(value)) * 100).to_integral_value())


def major(value: int) -> Decimal:
    """Minor units as a Decimal of major units with two decimals (for formatting only)."""
    return (Decimal(value) / 100).quantize(Decimal("0.01"))


def money_text(value: int) -> str:
    """``1234567`` → ``12 345.67`` (Swedish grouping with a space, point decimals)."""
    return f"{major(value):,.2f}".replace(",", " ")


def day(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
