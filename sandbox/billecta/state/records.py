"""Generic table of Billecta's keyed records (creditors, debtors, products): wire-form dicts keyed by public id.

The kinds differ in a few rules only, which a subclass gives as class attributes and two hooks. They share
the lookups (400 without an id, 404 for an unknown one), PUT-replaces-all updates (unset fields become
null/default, as .NET model binding does), listing per creditor, lookup by external id, and the refusal to
delete a record something still refers to. Referrers (other records, invoices) register themselves, so this
module knows none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from sandbox.billecta import contract
from sandbox.billecta.state.core import BillectaError, Store, new_guid

Record = dict[str, Any]


class Records:
    """One kind of record. Without an owner table the records are creditors themselves; with one, each
    record belongs to a creditor of that table (404 when it does not exist) and never moves to another."""

    label: ClassVar[str]  # "Debtor": used in messages and for the id field "DebtorPublicId"
    view: ClassVar[str]  # the view model whose defaults fill a written record
    created_trigger: ClassVar[str | None] = None
    updated_trigger: ClassVar[str | None] = None
    deleted_trigger: ClassVar[str | None] = None
    name_required: ClassVar[bool] = False
    external_id_field: ClassVar[str | None] = None
    in_use_message: ClassVar[str] = "{label} {public_id} can't be deleted: it is in use"

    def __init__(self, store: Store, creditors: Records | None = None) -> None:
        self.store = store
        self.lock = store.lock
        self.creditors = creditors
        self.rows: dict[str, Record] = {}
        self._referrers: list[Callable[[str], bool]] = []
        if creditors is not None:
            creditors.add_referrer(lambda creditor_id: any(
                r["CreditorPublicId"] == creditor_id for r in self.rows.values()
            ))

    @property
    def id_field(self) -> str:
        return f"{self.label}PublicId"

    def __len__(self) -> int:
        return len(self.rows)

    def clear(self) -> None:
        self.rows = {}

    def add_referrer(self, refers_to: Callable[[str], bool]) -> None:
        """``refers_to(public_id)`` tells whether something still uses a record; used ones are not deleted."""
        self._referrers.append(refers_to)

    # ---- hooks for the kinds' own rules --------------------------------------------------------------

    def _on_create(self, record: Record, body: Record) -> None:
        """Fill what a new record gets beyond the written fields and its ids."""

    def _on_update(self, record: Record, current: Record, body: Record) -> None:
        """Carry over what an update keeps from the current record."""

    # ---- reads ---------------------------------------------------------------------------------------

    def find(self, public_id: object, status: int = 404) -> Record:
        """The stored record (not a copy); ``status`` is the refusal's status when it does not exist."""
        if not public_id:
            raise BillectaError(400, f"{self.id_field} is required")
        record = self.rows.get(str(public_id))
        if record is None:
            raise BillectaError(status, f"{self.label} {public_id} not found")
        return record

    def get(self, public_id: str) -> Record:
        with self.lock:
            return dict(self.find(public_id))

    def list(self, creditor_public_id: str | None = None) -> list[Record]:
        with self.lock:
            if self.creditors is None:
                return [dict(r) for r in self.rows.values()]
            self.creditors.find(creditor_public_id)
            return [dict(r) for r in self.rows.values() if r["CreditorPublicId"] == creditor_public_id]

    def by_external_id(self, creditor_public_id: str, external_id: str) -> Record:
        field = self.external_id_field
        if self.creditors is None or field is None:
            raise TypeError(f"{self.label} records have no external id")
        with self.lock:
            self.creditors.find(creditor_public_id)
            matches = [
                r
                for r in self.rows.values()
                if r["CreditorPublicId"] == creditor_public_id and r.get(field) == external_id
            ]
            kind = self.label.lower()
            if not matches:
                raise BillectaError(404, f"No {kind} with {field} {external_id!r}")
            if len(matches) > 1:
                raise BillectaError(400, f"Multiple {kind}s ({len(matches)}) have {field} {external_id!r}")
            return dict(matches[0])

    # ---- writes --------------------------------------------------------------------------------------

    def create(self, body: Record) -> str:
        with self.lock:
            creditor_id = self._creditor_of(body)
            self._check_name(body)
            public_id = new_guid()
            record = {**contract.defaults(self.view), **body}
            record.update(self._ids(public_id, creditor_id))
            self._on_create(record, body)
            self.rows[public_id] = record
            self._emit(self.created_trigger, record)
            return public_id

    def update(self, body: Record) -> None:
        """Replace a record (named by its id field in ``body``) with ``body``."""
        with self.lock:
            current = self.find(body.get(self.id_field))
            public_id = current[self.id_field]
            creditor_id = None if self.creditors is None else current["CreditorPublicId"]
            if creditor_id is not None and body.get("CreditorPublicId") not in (None, creditor_id):
                raise BillectaError(
                    400, f"A {self.label.lower()} can't be moved to another creditor (CreditorPublicId differs)"
                )
            self._check_name(body)
            updated = {**contract.defaults(self.view), **body}
            updated.update(self._ids(public_id, creditor_id))
            self._on_update(updated, current, body)
            self.rows[public_id] = updated
            self._emit(self.updated_trigger, updated)

    def delete(self, public_id: str) -> None:
        with self.lock:
            record = self.find(public_id)
            if any(refers_to(public_id) for refers_to in self._referrers):
                raise BillectaError(400, self.in_use_message.format(label=self.label, public_id=public_id))
            del self.rows[public_id]
            self._emit(self.deleted_trigger, record)

    def _creditor_of(self, body: Record) -> str | None:
        """The creditor a new record belongs to (none for a creditor itself); 404 when it does not exist."""
        if self.creditors is None:
            return None
        return str(self.creditors.find(body.get("CreditorPublicId"))["CreditorPublicId"])

    def _check_name(self, body: Record) -> None:
        if self.name_required and not body.get("Name"):
            raise BillectaError(400, "Name is required")

    def _ids(self, public_id: str, creditor_id: str | None) -> Record:
        # Ids are the store's, whatever the body says; a creditor's own id is its CreditorPublicId.
        if creditor_id is None:
            return {"CreditorPublicId": public_id}
        return {self.id_field: public_id, "CreditorPublicId": creditor_id}

    def _emit(self, trigger: str | None, record: Record) -> None:
        if trigger is None:
            return
        ids = {"CreditorPublicId": record["CreditorPublicId"]}
        if self.creditors is not None:
            ids[self.id_field] = record[self.id_field]
        self.store.emit(trigger, **ids)
