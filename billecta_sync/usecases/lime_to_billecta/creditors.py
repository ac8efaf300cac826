"""Updating a creditor in Billecta from Lime (the "Update creditor in Billecta" command).

Field ownership: Lime owns the creditor's name and contact details (the properties below); Billecta owns
everything else of ``CreditorView`` (bank details, invoice numbering, contacts, ...), which is sent back
as Billecta had it so the update cannot blank it. A Lime property that is still empty is filled from
Billecta instead of blanking Billecta's value.

Two requests, as in the original package: the creditor itself, then its default action config. The
default model maps no Lime property onto ``DefaultActionConfigView``, so the second request writes back
what Billecta holds (making sure a config exists); its path is only partly verified (routes.py).
"""

from __future__ import annotations

from billecta_sync.billecta.errors import BillectaApiNotFoundException
from billecta_sync.container import Services
from billecta_sync.errors import PermanentError
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.locks import object_lock
from billecta_sync.usecases.common import text
from billecta_sync.usecases.lime_to_billecta.relations import refusal

# Lime creditor property -> CreditorView field (Lime-owned)
LIME_OWNED = {"name": "Name", "orgno": "OrgNo", "address": "Address", "zipcode": "ZipCode", "city": "City",
              "phone": "Phone"}


def update_creditor(services: Services, creditor_id: int) -> str:
    repo = LimeRepo(services.lime, services.mappings)
    with object_lock(services.redis, f"creditor:{creditor_id}", timeout_s=services.settings.worker.lock_timeout_s):
        creditor = repo.get("creditor", creditor_id)
        public_id = text(creditor.get("creditorpublicid"))
        if not public_id:
            message = f"Creditor {creditor_id} is not linked to Billecta (creditorpublicid is empty)."
            repo.update("creditor", creditor_id, {"billecta_error_message": message})
            raise PermanentError(message)
        try:
            try:
                remote = services.billecta.get_creditor(public_id)
            except BillectaApiNotFoundException:
                raise PermanentError(f"Creditor {creditor_id} ({public_id}) does not exist in Billecta.") from None
            from_billecta = {prop: remote.get(field) for prop, field in LIME_OWNED.items()
                             if not text(creditor.get(prop)) and text(remote.get(field))}
            view = dict(remote)
            view.update({field: text(creditor.get(prop)) for prop, field in LIME_OWNED.items()
                         if text(creditor.get(prop))})
            services.billecta.update_creditor(view)
            config = services.billecta.get_default_action_config(public_id)
            services.billecta.update_default_action_config({**config, "CreditorPublicId": public_id})
        except Exception as exc:
            message = refusal(exc)
            repo.update("creditor", creditor_id, {"billecta_error_message": message[:2000]})
            if isinstance(exc, PermanentError):
                raise
            raise PermanentError(f"Billecta refused creditor {creditor_id}: {message}") from exc
        repo.update("creditor", creditor_id, {**from_billecta, "billecta_error_message": ""})
        filled = f"; filled from Billecta: {', '.join(sorted(from_billecta))}" if from_billecta else ""
        return f"Creditor {creditor_id} updated in Billecta ({public_id}) with its default config{filled}"
