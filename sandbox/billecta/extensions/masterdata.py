"""Creditors, debtors and products: Billecta's master data, answered entirely by the CRUD table below.

Their rules (names required, numbering, what can't be deleted) are in ``sandbox.billecta.state.masterdata``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox.billecta.crud import Resource, crud_routes
from sandbox.billecta.extension import Host
from sandbox.billecta.outbox import Build, DataObject
from sandbox.billecta.state.masterdata import Creditors, Debtors, Products
from sandbox.billecta.state.records import Records

CREDITOR = Resource(
    "creditor", "/v1/creditors/creditor", "creditor_id", "CreditorView", "CreditorView",
    list_view="CreditorsView", per_creditor=False,
    notes={
        "create": ("V", "notes 2.1 (S1)"),
        "update": ("V", "notes 2.1 (S1)"),
        "get": ("V", "notes 2.1 (S1)"),
        "list": ("V", "notes 2.1 (S4, S9); paging params P"),
        "delete": ("V", "notes 2.1 (S1)"),
    },
)
DEBTOR = Resource(
    "debtor", "/v1/debtors/debtor", "debtor_id", "DebtorView", "DebtorView", list_view="DebtorsView",
    notes={
        "create": ("V", "notes 2.2 (S4, S5, S9)"),
        "update": ("V", "notes 2.2 (S4)"),
        "get": ("V", "notes 2.2 (S4, S1)"),
        "by_external_id": ("V", "notes 2.2 (S4); 400 when ambiguous"),
        "list": ("V", "notes 2.2 (S4)"),
        "delete": ("V", "notes 2.2 (S4)"),
    },
)
PRODUCT = Resource(
    "product", "/v1/products/product", "product_id", "ProductView", "ProductView", list_view="ProductsView",
    notes={
        "create": ("V", "notes 2.3 (S1, S4)"),
        "update": ("V", "notes 2.3 (S1, S4)"),
        "get": ("V", "notes 2.3 (S1)"),
        "by_external_id": ("V", "notes 2.3 (S4); 400 when ambiguous"),
        "list": ("V", "notes 2.3 (S4)"),
        "delete": ("V", "notes 2.3 (S4); refused while used on an invoice"),
    },
)


def register(host: Host) -> None:
    store = host.store
    creditors = store.add(Creditors(store), counted_as="creditors")
    debtors = store.add(Debtors(store, creditors), counted_as="debtors")
    products = store.add(Products(store, creditors), counted_as="products")
    for resource, records in ((CREDITOR, creditors), (DEBTOR, debtors), (PRODUCT, products)):
        host.add_routes(*crud_routes(resource, records))

    # The data of these triggers is in the part of Billecta's webhook table that is not stored: the record's own
    # view by analogy, and for a delete its id (as InvoiceActionDeleted documents for invoices).
    for kind in (creditors, debtors, products):
        triggers = [t for t in (kind.created_trigger, kind.updated_trigger) if t]
        host.outbox.add_data_object(triggers, DataObject(kind.view, _record_view(kind), False))
        if kind.deleted_trigger:
            host.outbox.add_data_object([kind.deleted_trigger], DataObject(None, _deleted_id(kind), False))
    # An autogiro approval is kept on the debtor.
    host.outbox.add_data_object(["AutogiroApprovalFailed", "AutogiroApprovalChanged"],
                                DataObject("DebtorView", _record_view(debtors), False))


def _record_view(kind: Records) -> Build:
    # A creditor's id field is its CreditorPublicId, so one lookup serves all three kinds.
    def build(ids: Mapping[str, str], _context: Mapping[str, Any]) -> tuple[Any, Any]:
        return kind.get(ids[kind.id_field]), None

    return build


def _deleted_id(kind: Records) -> Build:
    def build(ids: Mapping[str, str], _context: Mapping[str, Any]) -> tuple[Any, Any]:
        return ids[kind.id_field], None

    return build
