"""Billecta's master data in the sandbox: creditors, debtors and products, plus a creditor's default action
config and the anonymisation (GDPR) of a debtor.

Debtors and products belong to one creditor; a creditor with anything on it can't be deleted, nor can a
debtor with invoices or a product used on an invoice (the invoices register that, see ``invoices``).
Anonymisation has no known Billecta endpoint (docs: billecta-api.md); the sandbox blanks the debtor's
personal fields and keeps its ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox.billecta import contract
from sandbox.billecta.state.core import Store, iso, now
from sandbox.billecta.state.records import Record, Records

DEFAULT_FIRST_INVOICE_NUMBER = "1001"
# Personal data Billecta would have to forget; ids, numbers and the creditor link stay.
PERSONAL_FIELDS = ("OrgNo", "Attention", "CareOf", "Address", "Address2", "ZipCode", "City", "Phone", "Email",
                   "ContactName", "ContactEmail", "VatNumber", "GLN", "Notes")
ANONYMOUS_NAME = "Anonymized"


class Creditors(Records):
    label = "Creditor"
    view = "CreditorView"
    created_trigger = "CreditorCreated"
    updated_trigger = "CreditorUpdated"
    deleted_trigger = "CreditorDeleted"
    name_required = True
    in_use_message = "{label} {public_id} can't be deleted: debtors, products or invoices exist on it"

    def _on_create(self, record: Record, body: Record) -> None:
        record["IsEnabled"] = body.get("IsEnabled", True)
        record["NextInvoiceNumber"] = body.get("NextInvoiceNumber") or DEFAULT_FIRST_INVOICE_NUMBER

    def _on_update(self, record: Record, current: Record, body: Record) -> None:
        # The numbering goes on where it was unless the caller sets it.
        record["NextInvoiceNumber"] = body.get("NextInvoiceNumber") or current["NextInvoiceNumber"]


class Debtors(Records):
    label = "Debtor"
    view = "DebtorView"
    created_trigger = "DebtorCreated"
    updated_trigger = "DebtorUpdated"
    deleted_trigger = "DebtorDeleted"
    name_required = True
    external_id_field = "DebtorExternalId"
    in_use_message = "{label} {public_id} can't be deleted: it has invoices"

    def __init__(self, store: Store, creditors: Creditors) -> None:
        super().__init__(store, creditors)
        self._numbers: dict[str, int] = {}

    def clear(self) -> None:
        super().clear()
        self._numbers = {}

    def _on_create(self, record: Record, body: Record) -> None:
        record["Created"] = iso(now())
        if record.get("IsActive") is None:
            record["IsActive"] = True
        if not record.get("DebtorNo"):
            # Billecta numbers debtors per creditor when the caller does not.
            creditor_id = record["CreditorPublicId"]
            self._numbers[creditor_id] = self._numbers.get(creditor_id, 0) + 1
            record["DebtorNo"] = str(self._numbers[creditor_id])

    def _on_update(self, record: Record, current: Record, body: Record) -> None:
        record["Created"] = current["Created"]
        if not record.get("DebtorNo"):
            record["DebtorNo"] = current.get("DebtorNo")

    def anonymize(self, public_id: str) -> None:
        with self.lock:
            debtor = self.find(public_id)
            for name in PERSONAL_FIELDS:
                debtor[name] = None
            debtor["Name"] = ANONYMOUS_NAME
            debtor["IsActive"] = False
            self.store.emit("DebtorUpdated", CreditorPublicId=debtor["CreditorPublicId"], DebtorPublicId=public_id)


class Products(Records):
    label = "Product"
    view = "ProductView"
    created_trigger = "ProductCreated"
    updated_trigger = "ProductUpdated"
    external_id_field = "ProductExternalId"
    in_use_message = "{label} {public_id} can't be deleted because it is used on an invoice; deactivate it"

    def _on_create(self, record: Record, body: Record) -> None:
        record["IsActive"] = body.get("IsActive", True)


@dataclass(eq=False)
class DefaultActionConfigs:
    """Each creditor's DefaultActionConfigView; a creditor that never wrote one reads a fixed default."""

    store: Store
    creditors: Creditors
    configs: dict[str, dict[str, Any]] = field(default_factory=dict, init=False)

    def clear(self) -> None:
        self.configs = {}

    def get(self, creditor_public_id: str) -> dict[str, Any]:
        with self.store.lock:
            self.creditors.find(creditor_public_id)
            stored = self.configs.get(creditor_public_id)
            if stored is None:
                stored = {**contract.defaults("DefaultActionConfigView"), "CreditorPublicId": creditor_public_id,
                          "CurrencyCode": "SEK", "DeliveryMethod": "Email", "CommunicationLanguage": "SV",
                          "PaymentTermsInDays": 30, "InvoicePaymentTermsInDays": 30}
            return dict(stored)

    def update(self, body: dict[str, Any]) -> None:
        with self.store.lock:
            creditor_id = self.creditors.find(body.get("CreditorPublicId"))["CreditorPublicId"]
            self.configs[creditor_id] = {**contract.defaults("DefaultActionConfigView"), **body}
            self.store.emit("CreditorUpdated", CreditorPublicId=creditor_id)
