"""Pieces shared by the per-object Lime → Billecta use-cases (articles, debtors, credits, creditor).

Each use-case works through one Lime object's creditor relations; a failure on one relation is recorded
on that relation (``billecta_error_message``) and the others still go through, and the whole object ends
in error when any relation failed. Outages are raised unchanged so the task retries them (everything
already saved is idempotent to redo); Billecta's 4xx answers and data problems are not retried.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from billecta_sync.billecta.errors import BillectaApiNotFoundException
from billecta_sync.container import Services
from billecta_sync.errors import PermanentError
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.retry import is_retryable
from billecta_sync.usecases.common import relation_id, text

# Creditors seen to exist in Billecta lately, per worker process: a 10 000-debtor batch of one creditor
# then checks it once per process, not once per debtor. Only found creditors are remembered; one removed
# from Billecta meanwhile still fails, with Billecta's own answer to the next call.
KNOWN_CREDITOR_TTL_S = 300.0
_KNOWN_CREDITORS: dict[str, float] = {}


@dataclass
class Outcome:
    """What happened to one object across its creditor relations, for the monitor log."""

    what: str
    done: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def message(self) -> str:
        """The log text; raises PermanentError (an error log) when any relation failed."""
        parts = self.done + self.errors
        text_ = f"{self.what}: " + "; ".join(parts) if parts else f"{self.what}: nothing to do"
        if self.errors:
            raise PermanentError(text_)
        return text_


def refusal(exc: Exception) -> str:
    """The message of a failure that must not be retried; re-raises anything worth retrying."""
    if not isinstance(exc, PermanentError) and is_retryable(exc):
        raise exc
    return str(exc) or type(exc).__name__


def linked_creditor(services: Services, repo: LimeRepo, creditor_id: int | None,
                    cache: dict[int, str], *, check_billecta: bool = True,
                    creditor: dict[str, Any] | None = None) -> str:
    """The creditor's CreditorPublicId, checked once per run to exist in Billecta (404 → PermanentError).

    ``creditor``: the creditor already read (nested in its relation's query), so Lime is not asked again."""
    if creditor_id is None:
        raise PermanentError("the relation has no creditor")
    if creditor_id in cache:
        return cache[creditor_id]
    if creditor is None:
        creditor = repo.get("creditor", creditor_id)
    public_id = text(creditor.get("creditorpublicid"))
    if not public_id:
        raise PermanentError(f"creditor {creditor_id} is not linked to Billecta (creditorpublicid is empty)")
    if check_billecta and _KNOWN_CREDITORS.get(public_id, 0.0) < time.monotonic():
        try:
            services.billecta.get_creditor(public_id)
        except BillectaApiNotFoundException:
            raise PermanentError(f"creditor {creditor_id} ({public_id}) does not exist in Billecta") from None
        _KNOWN_CREDITORS[public_id] = time.monotonic() + KNOWN_CREDITOR_TTL_S
    cache[creditor_id] = public_id
    return public_id


def creditor_of(link: dict[str, Any]) -> int | None:
    return relation_id(link.get("creditor"))
