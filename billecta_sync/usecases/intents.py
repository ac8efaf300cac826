"""Outbound intents for Billecta calls that change something every time they are made (postpone, reminder,
debt collection): recorded (committed) before the call, completed after it, so a retried request can tell
"not sent yet" from "sent, but the answer was lost" by comparing Billecta's state with what the intent saw.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from billecta_sync.container import Services
from billecta_sync.db import OutboundIntent, utcnow


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
