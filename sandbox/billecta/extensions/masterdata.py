"""Creditors, debtors and products: Billecta's master data, answered entirely by the CRUD table below.

Their rules (names required, numbering, what can't be deleted) are in ``sandbox.billecta.state.masterdata``.
"""

from __future__ import annotations

from sandbox.billecta.crud import Resource, crud_routes
from sandbox.billecta.extension import Host
from sandbox.billecta.state.masterdata import Creditors, Debtors, Products

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
