"""Billecta → Lime for debtors: DebtorUpdated and autogiro events, and debtors Lime has not seen yet.

A Billecta debtor belongs to one creditor; Lime links it through ``creditordebtor.debtorpublicid``.
"""

from __future__ import annotations

from typing import Any

from billecta_sync.container import Services
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.locks import object_lock
from billecta_sync.usecases.common import option_key, text
from billecta_sync.usecases.echoes import is_own_echo
from billecta_sync.usecases.shared_reads import read_together

DEBTOR_TYPES = {"Private": "private", "Company": "company"}
# Billecta's AutogiroStageType (by name or number) -> creditordebtor.autogirostatus; Migration has no option.
AUTOGIRO_STAGES = {"Pending": "pending", "Approved": "approved", "Failed": "failed", "Removed": "removed",
                   "0": "pending", "1": "approved", "2": "failed", "3": "removed"}


def lime_debtor_values(view: dict[str, Any]) -> dict[str, Any]:
    """The Lime debtor fields Billecta's DebtorView is authoritative for."""
    values: dict[str, Any] = {
        "name": text(view.get("Name")),
        "ssnregno": text(view.get("OrgNo")),
        "contactname": text(view.get("ContactName")),
        "email": text(view.get("Email") or view.get("ContactEmail")),
        "maincontactphone": text(view.get("Phone")),
        "address": text(view.get("Address")),
        "zipcode": text(view.get("ZipCode")),
        "city": text(view.get("City")),
        "countrycode": text(view.get("CountryCode")).upper(),
    }
    debtor_type = DEBTOR_TYPES.get(text(view.get("DebtorType")))
    if debtor_type:
        values["debtortype"] = debtor_type
    return values


def autogiro_link_values(view: dict[str, Any]) -> dict[str, Any]:
    """The creditordebtor autogiro fields from a DebtorView; a stage Lime has no option for is left out."""
    autogiro = view.get("Autogiro")
    if not isinstance(autogiro, dict):
        return {"autogiroactive": False}  # no mandate at all
    values: dict[str, Any] = {"autogiroactive": bool(autogiro.get("Active"))}
    status = AUTOGIRO_STAGES.get(text(autogiro.get("Stage")))
    if status:
        values["autogirostatus"] = status
    return values


def _changed(existing: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    def norm(value: Any, like: Any = "") -> Any:
        value = option_key(value) if isinstance(value, dict) else value
        if isinstance(like, bool):
            return bool(value)  # an unset yes/no field reads as no
        return "" if value is None else value

    return {k: v for k, v in wanted.items() if norm(existing.get(k), v) != norm(v)}


def sync_debtor_from_billecta(services: Services, debtor_public_id: str) -> str:
    """Update the Lime debtor linked to a Billecta debtor; a debtor Lime does not know is left alone."""
    repo = LimeRepo(services.lime, services.mappings)
    with object_lock(services.redis, f"debtor:{debtor_public_id}", timeout_s=services.settings.worker.lock_timeout_s):
        # A bulk upsert's debtors come back as a burst of DebtorUpdated events: their links in one query.
        link = read_together(services, "creditordebtor-by-debtor", debtor_public_id,
                             lambda public_ids: _links_by_public_id(repo, public_ids))
        if link is None or not link.get("debtor"):
            return f"Billecta debtor {debtor_public_id} is not linked to a Lime debtor; nothing to update"
        view = services.billecta.get_debtor(debtor_public_id)
        # Only Billecta changes the autogiro mandate, so it is written even when the rest is our own echo.
        link_changes = _changed(link, autogiro_link_values(view))
        autogiro = f"; autogiro updated ({', '.join(sorted(link_changes))})" if link_changes else ""
        if is_own_echo(services, view):  # our own Lime → Billecta write; Lime may have moved on since
            repo.update("creditordebtor", int(link["_id"]), link_changes)
            return f"Billecta debtor {debtor_public_id} holds what the service sent; Lime left as it is{autogiro}"
        debtor = repo.get("debtor", int(link["debtor"]))
        # Only changed fields are written, so a change Lime pushed to Billecta does not echo back.
        changed = _changed(debtor, lime_debtor_values(view))
        repo.update("debtor", int(link["debtor"]), changed)
        if link.get("billecta_error_message"):
            link_changes["billecta_error_message"] = ""
        repo.update("creditordebtor", int(link["_id"]), link_changes)
        verb = f"updated ({', '.join(sorted(changed))})" if changed else "unchanged"
        return f"debtor {link['debtor']} {verb} from Billecta debtor {debtor_public_id}{autogiro}"


def _links_by_public_id(repo: LimeRepo, public_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The creditordebtor of each Billecta debtor (the oldest, should there be two, as ``find_one``)."""
    query = repo.filter_in("creditordebtor", "debtorpublicid", public_ids)
    found: dict[str, dict[str, Any]] = {}
    for link in repo.find("creditordebtor", filter=query):  # oldest first
        found.setdefault(text(link.get("debtorpublicid")), link)
    return found


def ensure_lime_debtor(services: Services, repo: LimeRepo, creditor_id: int, debtor_public_id: str) -> int:
    """The Lime debtor for a Billecta debtor, created with its creditordebtor link when Lime lacks it
    (an invoice made in Billecta's portal for a customer that never came from Lime)."""
    link = repo.find_one("creditordebtor", {"debtorpublicid": debtor_public_id})
    if link is not None and link.get("debtor"):
        return int(link["debtor"])
    with object_lock(services.redis, f"debtor:{debtor_public_id}", timeout_s=services.settings.worker.lock_timeout_s):
        link = repo.find_one("creditordebtor", {"debtorpublicid": debtor_public_id})  # another worker may have won
        if link is not None and link.get("debtor"):
            return int(link["debtor"])
        view = services.billecta.get_debtor(debtor_public_id)
        debtor = repo.create("debtor", {**lime_debtor_values(view), "billecta_error_message": ""})
        debtor_id = int(debtor["_id"])
        if link is None:  # with the mandate the view already shows, so no later event is needed for it
            repo.create("creditordebtor", {"creditor": creditor_id, "debtor": debtor_id,
                                           "debtorpublicid": debtor_public_id, **autogiro_link_values(view)})
        else:
            repo.update("creditordebtor", int(link["_id"]), {"debtor": debtor_id, **autogiro_link_values(view)})
        return debtor_id
