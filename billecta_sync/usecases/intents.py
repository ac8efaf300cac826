"""Outbound intents for Billecta calls that change something every time they are made (postpone, reminder,
debt collection, the money operations): recorded (committed) before the call, completed after it, so a
retried request can tell "not sent yet" from "sent, but the answer was lost" by comparing Billecta's state
with what the intent saw.
"""

from __future__ import annotations

import hashlib
import json
import operator
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from billecta_sync.billecta.errors import (
    BillectaApiBadRequestException,
    BillectaApiNotFoundException,
    BillectaApiRateLimitedException,
)
from billecta_sync.container import Services
from billecta_sync.db import OutboundIntent, utcnow
from billecta_sync.errors import ActionRefused


def intent_key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:40]


def begin(services: Services, kind: str, key: str, reference: str, *, limetype: str = "invoice",
          window: timedelta | None = None) -> OutboundIntent | None:
    """Record the intent (committed); returns the earlier one when this request was seen before.

    With ``window``, an earlier intent older than that belongs to another request and is replaced."""
    with services.db.session() as session:
        existing = session.query(OutboundIntent).filter_by(kind=kind, limetype=limetype, object_id=key).one_or_none()
        if existing is not None and window is not None and existing.created_at < utcnow() - window:
            session.delete(existing)
            session.flush()
            existing = None
        if existing is not None:
            session.expunge(existing)
            return existing
        session.add(OutboundIntent(kind=kind, limetype=limetype, object_id=key, external_reference=reference[:100]))
    return None


def complete(services: Services, kind: str, key: str, public_id: str = "", *, limetype: str = "invoice") -> None:
    with services.db.session() as session:
        session.query(OutboundIntent).filter_by(kind=kind, limetype=limetype, object_id=key).update(
            {"billecta_public_id": public_id[:100], "status": "done"})


def forget(services: Services, kind: str, key: str, *, limetype: str = "invoice") -> None:
    """Billecta refused before acting: the same request may be made again later."""
    with services.db.session() as session:
        session.query(OutboundIntent).filter_by(kind=kind, limetype=limetype, object_id=key).delete()


def refused_before_work(exc: BaseException) -> bool:
    """Billecta (or our own check) refused before anything was done: a retry may be made afresh."""
    return isinstance(exc, BillectaApiBadRequestException | BillectaApiNotFoundException
                      | BillectaApiRateLimitedException | ActionRefused)


def once(services: Services, kind: str, key: str, state: str, send: Callable[[], str], *,
         changed: Callable[[str, str], bool] = operator.ne, limetype: str = "invoice",
         window: timedelta | None = None) -> tuple[bool, str]:
    """Make the call ``send`` at most once for the request ``key``; ``(sent now, answer)``.

    ``state`` is what the call changes, as Billecta shows it now. An earlier attempt of the same request that
    finished gives its stored answer; one that did not finish counts as done when ``changed(its state,
    state)`` — the call went through and only its answer was lost — and then ``state`` is the answer. Only a
    refusal before any work forgets the intent, so an ambiguous failure is always checked before a retry.
    """
    earlier = begin(services, kind, key, state, limetype=limetype, window=window)
    if earlier is not None:
        if earlier.status == "done":
            return False, earlier.billecta_public_id
        if changed(earlier.external_reference, state):
            complete(services, kind, key, state, limetype=limetype)
            return False, state
    try:
        answer = send()
    except Exception as exc:
        if refused_before_work(exc):
            forget(services, kind, key, limetype=limetype)
        raise
    complete(services, kind, key, answer, limetype=limetype)
    return True, answer
