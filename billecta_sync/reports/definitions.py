"""The configured reports of ``POST /billecta/report-creator``, declared as data and checked at import.

A definition names its source:

* ``lime``: rows of a Lime limetype (query API, paged) related to the object the report is about
  (``relation`` → ``idlimeobject``), optionally dated between ``date_from`` and ``date_to`` on ``date_property``;
  each column reads one property of the row (its ``key``).
* ``billecta_ar``: the creditor's open invoices from the AR age analysis at ``date_to`` (default: today);
  columns read the keys of ``accounts_receivable.rows_of``.

``check_definitions()`` runs at import (a bad definition stops the service from starting) and is what a
configuration check calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from billecta_sync.mappings import DEFAULT_MODEL
from billecta_sync.reports.model import COLUMN_KINDS, Column

SOURCES = ("lime", "billecta_ar")
AR_KEYS = frozenset({"debtor", "invoice_number", "action_public_id", "invoice_date", "due_date", "invoiced",
                     "remaining", "days_overdue", "bucket", "currency"})


@dataclass(frozen=True)
class ReportDefinition:
    key: str
    title: str
    source: str
    columns: tuple[Column, ...]
    #: the limetype a report is about (the request's ``limetype``)
    about: str = "creditor"
    #: lime: the limetype read, its relation to the object reported on, the property dated by the period
    limetype: str = ""
    relation: str = ""
    date_property: str = ""


DEFINITIONS: Mapping[str, ReportDefinition] = MappingProxyType({d.key: d for d in (
    ReportDefinition(
        "accounts_receivable", "Accounts receivable (configured)", "billecta_ar",
        (Column("debtor", "Debtor"), Column("invoice_number", "Invoice number"),
         Column("due_date", "Due date", "date"), Column("remaining", "Remaining", "money", total=True),
         Column("days_overdue", "Days overdue", "int"), Column("bucket", "Aging"))),
    ReportDefinition(
        "invoices", "Invoices in Lime", "lime",
        (Column("invoicenumber", "Invoice number"), Column("invoicedate", "Invoice date", "date"),
         Column("invoice_expires", "Due date", "date"), Column("invoicedamount", "Invoiced", "money", total=True),
         Column("currentamount", "Remaining", "money", total=True), Column("invoicestatus", "Status")),
        limetype="invoice", relation="creditor", date_property="invoicedate"),
    ReportDefinition(
        "payments", "Payments in Lime", "lime",
        (Column("paymentdate", "Payment date", "date"), Column("paymenttype", "Type"),
         Column("paymentmeancode", "Payment mean"), Column("paymentbillectaid", "Billecta reference"),
         Column("amount", "Amount", "money", total=True)),
        limetype="payment", relation="creditor", date_property="paymentdate"),
)})


class DefinitionError(ValueError):
    pass


def check_definitions(definitions: Mapping[str, ReportDefinition] = DEFINITIONS) -> list[str]:
    """Problems of the definitions (empty when all are sound); raises nothing."""
    problems = []
    for key, d in definitions.items():
        where = f"report {key!r}"
        if key != d.key:
            problems.append(f"{where}: declared under another key ({d.key!r})")
        if d.source not in SOURCES:
            problems.append(f"{where}: unknown source {d.source!r} (known: {', '.join(SOURCES)})")
        if not d.columns:
            problems.append(f"{where}: has no columns")
        keys = [c.key for c in d.columns]
        if len(set(keys)) != len(keys):
            problems.append(f"{where}: a column key appears twice")
        for c in d.columns:
            if c.kind not in COLUMN_KINDS:
                problems.append(f"{where}: column {c.key!r} has unknown kind {c.kind!r}")
            if c.total and c.kind not in ("money", "int"):
                problems.append(f"{where}: column {c.key!r} is totalled but is {c.kind}")
        if d.about not in DEFAULT_MODEL:
            problems.append(f"{where}: reports on unknown limetype {d.about!r}")
        if d.source == "billecta_ar":
            if d.about != "creditor":
                problems.append(f"{where}: the AR analysis reports on a creditor")
            problems += [f"{where}: column {k!r} is not an AR analysis field" for k in keys if k not in AR_KEYS]
        if d.source == "lime":
            props = DEFAULT_MODEL.get(d.limetype)
            if props is None:
                problems.append(f"{where}: unknown limetype {d.limetype!r}")
                continue
            for name in [*keys, d.relation, *([d.date_property] if d.date_property else [])]:
                if name not in props:
                    problems.append(f"{where}: {d.limetype} has no property {name!r}")
    return problems


def check_or_raise() -> None:
    problems = check_definitions()
    if problems:
        raise DefinitionError("; ".join(problems))


check_or_raise()
