"""Debtors: a Lime debtor becomes one Billecta debtor per creditor it is billed by (creditordebtor)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from billecta_sync import logs
from billecta_sync.billecta.errors import BillectaApiNotFoundException
from billecta_sync.container import Services
from billecta_sync.errors import PermanentError
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.locks import object_lock
from billecta_sync.usecases.common import UNREAD, differs, option_key, relation_id, save_by_external_id, text
from billecta_sync.usecases.echoes import remember_sent
from billecta_sync.usecases.lime_to_billecta.relations import Outcome, creditor_of, linked_creditor, refusal
from billecta_sync.usecases.read_ahead import read_for_batch

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
                  debtor_id: int, *, validate: bool = True, link: dict[str, Any] | None = UNREAD) -> str:
    """The debtor's Billecta id for this creditor, creating the debtor (and creditordebtor) if needed.

    Idempotent: a debtor created by an earlier, interrupted attempt is found again by its external id.
    ``link`` is the creditordebtor when the caller has read it already (None: read, there is none).
    """
    criteria = {"creditor": creditor_id, "debtor": debtor_id}
    if link is UNREAD or link is None:  # none read ahead may be stale: another order may have made it since
        link = repo.find_one("creditordebtor", criteria)
    if link is None:
        # Under the debtor's lock, so orders of a batch that share a new debtor make one relation, not one each.
        with object_lock(services.redis, f"debtor:{debtor_id}", timeout_s=services.settings.worker.lock_timeout_s):
            link = repo.find_one("creditordebtor", criteria) or repo.create("creditordebtor", criteria)
    public_id = text(link.get("debtorpublicid"))
    if public_id and validate:
        try:
            services.billecta.get_debtor(public_id)
        except BillectaApiNotFoundException:
            public_id = ""  # removed in Billecta: create it again
    if public_id:
        return public_id
    gone = text(link.get("debtorpublicid"))
    # Under the debtor's lock, like upsert_debtor: a change-driven upsert triggered by this very
    # creditordebtor may be creating the debtor right now, and Billecta must not get two.
    with object_lock(services.redis, f"debtor:{debtor_id}", timeout_s=services.settings.worker.lock_timeout_s):
        fresh = repo.find_one("creditordebtor", {"creditor": creditor_id, "debtor": debtor_id}) or link
        public_id = text(fresh.get("debtorpublicid"))
        if public_id and public_id != gone:
            return public_id
        view = debtor_view(repo.get("debtor", debtor_id), creditor_public_id)
        existing = services.billecta.find_debtor_by_external_id(creditor_public_id, view["DebtorExternalId"])
        if existing and existing.get("DebtorPublicId"):
            public_id = str(existing["DebtorPublicId"])
            services.billecta.update_debtor({**view, "DebtorPublicId": public_id})
        else:
            public_id = services.billecta.create_debtor(view)
        remember_sent(services, public_id, view)
        repo.update("creditordebtor", fresh["_id"], {"debtorpublicid": public_id, "billecta_error_message": ""})
        return public_id


def check_debtor_rules(debtor: dict[str, Any]) -> None:
    """Who may be sent to Billecta by the debtor commands (the order flow sends what it has).

    * a company debtor (``debtortype`` company, or none given, Billecta's default) needs its
      organisation number in ``ssnregno``: Billecta files, reminds and collects by it;
    * a private debtor needs either a person (``person`` relation) or a personal identity number in
      ``ssnregno``, so it can be traced back to a human being, and later anonymised with that person;
    * a debtor whose person is anonymised is not sent again (see ``anonymize_person``).
    """
    kind = option_key(debtor.get("debtortype")) or "company"
    if kind == "company" and not text(debtor.get("ssnregno")):
        raise PermanentError(f"debtor {debtor['_id']} is a company but has no organisation number (ssnregno)")
    if kind == "private" and relation_id(debtor.get("person")) is None and not text(debtor.get("ssnregno")):
        raise PermanentError(f"debtor {debtor['_id']} is private but has neither a person nor a personal "
                             "identity number (ssnregno)")


def _save_debtor(services: Services, view: dict[str, Any], public_id: str) -> str:
    public_id = _write_debtor(services, view, public_id)
    remember_sent(services, public_id, view)
    return public_id


def _write_debtor(services: Services, view: dict[str, Any], public_id: str) -> str:
    return save_by_external_id(
        view, public_id, id_field="DebtorPublicId", external_field="DebtorExternalId",
        update=services.billecta.update_debtor, find=services.billecta.find_debtor_by_external_id,
        create=services.billecta.create_debtor)


@dataclass
class DebtorData:
    debtor: dict[str, Any]  # with ``person`` nested: {"_id", "anonymized"}
    links: list[dict[str, Any]]  # its creditordebtors, each with ``creditor`` nested: {"_id", "creditorpublicid"}


def read_debtors(repo: LimeRepo, debtor_ids: list[int]) -> dict[int, DebtorData]:
    """Debtors with their person and their creditor relations with the creditors: two queries for all."""
    ids = sorted({int(i) for i in debtor_ids})
    debtors = {int(d["_id"]): DebtorData(d, []) for d in repo.find_nested(
        "debtor", repo.filter_in("debtor", "_id", ids), {"person": ["anonymized"]})}
    if debtors:
        relation = repo.filter_in("creditordebtor", "debtor", list(debtors))
        for link in repo.find_nested("creditordebtor", relation, {"creditor": ["creditorpublicid"]}):
            owner = debtors.get(relation_id(link.get("debtor")) or 0)
            if owner is not None:
                owner.links.append(link)
    return debtors


def upsert_debtor(services: Services, debtor_id: int) -> str:
    """Create or update the debtor in Billecta for every creditor it is billed by (creditordebtor).

    In a batch, a window of debtors is read at once with their person and relations (read_ahead)."""
    repo = LimeRepo(services.lime, services.mappings)
    with object_lock(services.redis, f"debtor:{debtor_id}", timeout_s=services.settings.worker.lock_timeout_s):
        data = read_for_batch(services, "debtor", debtor_id, logs.monitor_log_id(),
                              lambda ids: read_debtors(repo, ids), encode=asdict,
                              decode=lambda raw: DebtorData(**raw))
        if data is None:
            raise PermanentError(f"debtor {debtor_id} does not exist in Lime")
        debtor = data.debtor
        person = debtor.get("person")
        if isinstance(person, dict) and person.get("anonymized"):
            return f"Debtor {debtor_id} belongs to anonymised person {person['_id']}; nothing sent."
        try:
            check_debtor_rules(debtor)
        except PermanentError as exc:
            repo.update("debtor", debtor_id, {"billecta_error_message": str(exc)})
            raise
        links = data.links
        if not links:
            return f"Debtor {debtor_id} has no creditor relation (creditordebtor); nothing sent."
        outcome = Outcome(f"Debtor {debtor_id}")
        creditors: dict[int, str] = {}
        for link in links:
            nested = link.get("creditor")
            try:
                creditor_public_id = linked_creditor(services, repo, creditor_of(link), creditors,
                                                     creditor=nested if isinstance(nested, dict) else None)
                public_id = _save_debtor(services, debtor_view(debtor, creditor_public_id),
                                         text(link.get("debtorpublicid")))
            except Exception as exc:
                message = refusal(exc)
                _write_link(repo, link, {"billecta_error_message": message[:2000]})
                outcome.errors.append(f"creditor {creditor_of(link)}: {message}")
                continue
            _write_link(repo, link, {"debtorpublicid": public_id, "billecta_error_message": ""})
            outcome.done.append(f"creditor {creditor_of(link)} → debtor {public_id}")
        if not outcome.errors and text(debtor.get("billecta_error_message")):
            repo.update("debtor", debtor_id, {"billecta_error_message": ""})
        return outcome.message()


def _write_link(repo: LimeRepo, link: dict[str, Any], values: dict[str, Any]) -> None:
    """Write the creditordebtor only where it changes: an update that changes nothing costs no request."""
    changed = {k: v for k, v in values.items() if differs(link.get(k), v)}
    repo.update("creditordebtor", link["_id"], changed)


def anonymize_debtor(services: Services, debtor_id: int) -> str:
    """Ask Billecta to forget the debtor's personal data, for every creditor it was synced to.

    Only relations with a ``debtorpublicid`` are touched: a debtor never sent has nothing to forget.
    The Billecta call is unverified (``debtor.anonymize`` in routes.py).
    """
    repo = LimeRepo(services.lime, services.mappings)
    with object_lock(services.redis, f"debtor:{debtor_id}", timeout_s=services.settings.worker.lock_timeout_s):
        links = [link for link in repo.find("creditordebtor", {"debtor": debtor_id})
                 if text(link.get("debtorpublicid"))]
        if not links:
            return f"Debtor {debtor_id} was never synced to Billecta (no debtorpublicid); nothing to anonymise."
        outcome = Outcome(f"Debtor {debtor_id}")
        for link in links:
            public_id = text(link.get("debtorpublicid"))
            try:
                try:
                    services.billecta.anonymize_debtor(public_id)
                    outcome.done.append(f"creditor {creditor_of(link)}: debtor {public_id} anonymised")
                except BillectaApiNotFoundException:
                    outcome.done.append(f"creditor {creditor_of(link)}: debtor {public_id} is gone from Billecta")
            except Exception as exc:
                message = refusal(exc)
                repo.update("creditordebtor", link["_id"], {"billecta_error_message": message[:2000]})
                outcome.errors.append(f"creditor {creditor_of(link)}: {message}")
        return outcome.message()


def anonymize_person(services: Services, person_id: int) -> str:
    """An anonymised Lime person: anonymise every debtor that is that person, in Billecta."""
    repo = LimeRepo(services.lime, services.mappings)
    person = repo.get("person", person_id)
    if not person.get("anonymized"):
        return f"Person {person_id} is not anonymised; nothing sent."
    debtor_ids = [int(d["_id"]) for d in repo.find("debtor", {"person": person_id})]
    if not debtor_ids:
        return f"Person {person_id} is no debtor; nothing sent."
    results = [anonymize_debtor(services, debtor_id) for debtor_id in debtor_ids]
    return f"Person {person_id}: " + " | ".join(results)
