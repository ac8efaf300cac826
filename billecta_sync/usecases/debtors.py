"""Debtors: a Lime debtor becomes one Billecta debtor per creditor it is billed by (creditordebtor)."""

from __future__ import annotations

from typing import Any

from billecta_sync.billecta.errors import BillectaApiNotFoundException
from billecta_sync.container import Services
from billecta_sync.errors import PermanentError
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.usecases.common import option_key, text

DEBTOR_TYPES = {"private": "Private", "company": "Company"}


def debtor_view(debtor: dict[str, Any], creditor_public_id: str) -> dict[str, Any]:
    """Billecta's DebtorView for a Lime debtor (the Lime id is the external id, unique per creditor)."""
    name = text(debtor.get("name"))
    if not name:
        raise PermanentError(f"debtor {debtor['_id']} has no name")
    debtor_type = DEBTOR_TYPES.get(option_key(debtor.get("debtortype")) or "", "Company")
    email = text(debtor.get("email"))
    return {
        "CreditorPublicId": creditor_public_id,
        "DebtorExternalId": str(debtor["_id"]),
        "Name": name,
        "OrgNo": text(debtor.get("ssnregno")) or None,
        "ContactName": text(debtor.get("contactname")) or None,
        "Email": email or None,
        "ContactEmail": email or None,
        "Phone": text(debtor.get("maincontactphone")) or None,
        "Address": text(debtor.get("address")) or None,
        "ZipCode": text(debtor.get("zipcode")) or None,
        "City": text(debtor.get("city")) or None,
        "CountryCode": text(debtor.get("countrycode")).upper() or "SE",
        "DebtorType": debtor_type,
        "IsActive": True,
    }


def ensure_debtor(services: Services, repo: LimeRepo, creditor_id: int, creditor_public_id: str,
                  debtor_id: int, *, validate: bool = True) -> str:
    """The debtor's Billecta id for this creditor, creating the debtor (and creditordebtor) if needed.

    Idempotent: a debtor created by an earlier, interrupted attempt is found again by its external id.
    """
    link = repo.find_one("creditordebtor", {"creditor": creditor_id, "debtor": debtor_id})
    if link is None:
        link = repo.create("creditordebtor", {"creditor": creditor_id, "debtor": debtor_id})
    public_id = text(link.get("debtorpublicid"))
    if public_id and validate:
        try:
            services.billecta.get_debtor(public_id)
        except BillectaApiNotFoundException:
            public_id = ""  # removed in Billecta: create it again
    if public_id:
        return public_id
    view = debtor_view(repo.get("debtor", debtor_id), creditor_public_id)
    existing = services.billecta.find_debtor_by_external_id(creditor_public_id, view["DebtorExternalId"])
    if existing and existing.get("DebtorPublicId"):
        public_id = str(existing["DebtorPublicId"])
        services.billecta.update_debtor({**view, "DebtorPublicId": public_id})
    else:
        public_id = services.billecta.create_debtor(view)
    repo.update("creditordebtor", link["_id"], {"debtorpublicid": public_id, "billecta_error_message": ""})
    return public_id
