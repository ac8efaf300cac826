"""Recognising our own writes when Billecta reports them back: the fingerprint of the debtor last sent.

Shared by both directions: Lime → Billecta records what it sent, Billecta → Lime skips an event that only
echoes it (Lime may have moved on since, and must not be rolled back).
"""

from __future__ import annotations

import json
from typing import Any

from billecta_sync.container import Services

# What the service last sent Billecta per debtor, so the DebtorUpdated webhook our own write causes can
# be told apart from a change made in Billecta: an echo that arrives after Lime changed the debtor again
# would otherwise write Billecta's older values back over Lime's newer ones.
SENT_TTL_S = 7 * 24 * 3600
SENT_FIELDS = ("Name", "OrgNo", "ContactName", "Email", "ContactEmail", "Phone", "Address", "ZipCode", "City",
               "CountryCode", "DebtorType", "DebtorExternalId")


def _fingerprint(view: dict[str, Any]) -> str:
    return json.dumps({k: view.get(k) for k in sorted(SENT_FIELDS)}, sort_keys=True, default=str)



def remember_sent(services: Services, public_id: str, view: dict[str, Any]) -> None:
    try:
        services.redis.set(f"sent:debtor:{public_id}", _fingerprint(view), ex=SENT_TTL_S)
    except Exception:  # only an optimisation of the echo check; never fail a sync over it
        pass


def is_own_echo(services: Services, billecta_view: dict[str, Any]) -> bool:
    """True when Billecta's debtor holds exactly what the service last sent (its own write coming back)."""
    public_id = str(billecta_view.get("DebtorPublicId") or "")
    try:
        stored = services.redis.get(f"sent:debtor:{public_id}") if public_id else None
    except Exception:
        return False
    if stored is None:
        return False
    text_ = stored.decode() if isinstance(stored, bytes) else str(stored)
    return text_ == _fingerprint(billecta_view)
