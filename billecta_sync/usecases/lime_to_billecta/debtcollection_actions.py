"""Debt-collection controls from Lime on one case: next event, postpone, cancel, long-term surveillance, bailiff.

The same steps as the invoice controls (``collection.py``): the Lime ``debtcollection`` and its
``actionpublicid`` first (404 otherwise, nothing sent), Billecta's capability flag checked on a fresh read, the
action, then the case read again into Lime with ``billecta_error_message`` cleared — or the error written there.
Cancel, surveillance and bailiff move the case to a stage: a case already there is answered as done without a
call. Postpone is kept once per request by an outbound intent, like the invoice's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from billecta_sync.billecta.errors import BillectaApiNotFoundException
from billecta_sync.container import Services
from billecta_sync.errors import ActionRefused, InvalidRequest, ObjectNotFound
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.usecases import intents
from billecta_sync.usecases.billecta_to_lime.debtcollections import sync_debt_collection_from_billecta
from billecta_sync.usecases.common import as_date, iso_day, text
from billecta_sync.usecases.lime_to_billecta import collection
from billecta_sync.usecases.lime_to_billecta.actions import error_on, run_reported

NOT_FOUND = "Debt collection not found in Billecta or missing Billecta ID"
# bailiff_option of the seed -> (route, the stages that mean it is done)
BAILIFF_OPTIONS: dict[str, tuple[str, frozenset[str]]] = {
    "bailiff": ("debtcollection.bailiff", frozenset({"SentToBailiff", "SentToBailiffEnforcement"})),
    "assistance-with-bailiff": ("debtcollection.assistance_with_bailiff",
                                frozenset({"ReadyForAssistanceWithBailiff", "AssistedWithBailiff"})),
}
CLOSED_STAGES = frozenset({"Cancelled", "Completed"})


def _lime_case(services: Services, debtcollection_id: int) -> tuple[LimeRepo, str]:
    repo = LimeRepo(services.lime, services.mappings)
    case = repo.get_or_none("debtcollection", debtcollection_id)
    action_id = text((case or {}).get("actionpublicid"))
    if case is None or not action_id:
        raise ObjectNotFound(NOT_FOUND)
    return repo, action_id


def _billecta_case(services: Services, action_id: str) -> dict[str, Any]:
    try:
        return services.billecta.call("debtcollection.get", {"action_public_id": action_id})  # type: ignore[no-any-return]
    except BillectaApiNotFoundException:
        raise ObjectNotFound(NOT_FOUND) from None


def _stage(view: dict[str, Any]) -> str:
    return text((view.get("State") or {}).get("Stage"))


def _on_case(services: Services, debtcollection_id: int, act: Callable[[str], Any], *, final_attempt: bool) -> Any:
    repo, action_id = _lime_case(services, debtcollection_id)
    result = run_reported(services, f"debtcollection:{action_id}", lambda: act(action_id),
                          error_on(repo, "debtcollection", debtcollection_id), final_attempt=final_attempt)
    sync_debt_collection_from_billecta(services, action_id)
    return result


def _require(view: dict[str, Any], flag: str, action: str) -> None:
    if not view.get(flag):
        raise ActionRefused(f"Billecta does not allow to {action} this debt collection case now ({flag} is false)")


def _to_stage(services: Services, debtcollection_id: int, *, route: str, flag: str, action: str,
              done: frozenset[str], final_attempt: bool) -> dict[str, Any]:
    def act(action_id: str) -> dict[str, Any]:
        view = _billecta_case(services, action_id)
        if _stage(view) in done:
            return {"changed": False}
        _require(view, flag, action)
        services.billecta.call(route, {"action_public_id": action_id})
        return {"changed": True}

    return _on_case(services, debtcollection_id, act, final_attempt=final_attempt)  # type: ignore[no-any-return]


def debtcollection_next_event(services: Services, debtcollection_id: int) -> dict[str, Any]:
    _, action_id = _lime_case(services, debtcollection_id)
    view = _billecta_case(services, action_id)
    return {"next_event_date": iso_day(as_date((view.get("State") or {}).get("NextEventDate")))}


def cancel_debtcollection(services: Services, debtcollection_id: int, *, final_attempt: bool = True) -> dict[str, Any]:
    return _to_stage(services, debtcollection_id, route="debtcollection.cancel", flag="CanCancel", action="cancel",
                     done=frozenset({"Cancelled"}), final_attempt=final_attempt)


def send_to_long_term_surveillance(services: Services, debtcollection_id: int, *,
                                   final_attempt: bool = True) -> dict[str, Any]:
    return _to_stage(services, debtcollection_id, route="debtcollection.long_term_surveillance",
                     flag="CanSendToLongTermSurveilance", action="send to long-term surveillance",
                     done=frozenset({"LongTermSurveilance"}), final_attempt=final_attempt)


def send_to_bailiff(services: Services, debtcollection_id: int, bailiff_option: str, *,
                    final_attempt: bool = True) -> dict[str, Any]:
    if bailiff_option not in BAILIFF_OPTIONS:
        raise InvalidRequest(f"bailiff_option must be one of {', '.join(BAILIFF_OPTIONS)}", "bailiff_option")
    route, done = BAILIFF_OPTIONS[bailiff_option]
    return _to_stage(services, debtcollection_id, route=route, flag="CanSendToBailiff", action="send to the bailiff",
                     done=done, final_attempt=final_attempt)


def postpone_debtcollection(services: Services, debtcollection_id: int, postpone_days: int, request_key: str, *,
                            final_attempt: bool = True) -> dict[str, Any]:
    days = collection.positive_days(postpone_days)
    kind = "postpone_debtcollection"
    key = intents.intent_key(kind, debtcollection_id, days, request_key)

    def act(action_id: str) -> dict[str, Any]:
        view = _billecta_case(services, action_id)

        def send() -> str:
            _require(view, "CanPostpone", "postpone the next event of")
            services.billecta.call("debtcollection.postpone", {"action_public_id": action_id}, query={"days": days})
            return ""

        sent, _ = intents.once(services, kind, key, text((view.get("State") or {}).get("NextEventDate")), send,
                               limetype="debtcollection")
        return {"changed": sent}

    return _on_case(services, debtcollection_id, act, final_attempt=final_attempt)  # type: ignore[no-any-return]
