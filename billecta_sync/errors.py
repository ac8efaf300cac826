"""Errors the use-cases raise, split by what the caller should do about them."""

from __future__ import annotations


class SyncError(Exception):
    """Base of the service's own errors."""


class PermanentError(SyncError):
    """Retrying cannot help (bad data, a business rule); report it to the user and stop."""


class TransientError(SyncError):
    """Retrying later may succeed (a lock held elsewhere, a related object not there yet)."""


class ObjectBusy(TransientError):
    """Another worker is changing the same object right now."""


class RelatedObjectMissing(TransientError):
    """An event refers to something Lime does not have yet; park and retry rather than drop it."""


class ObjectNotFound(PermanentError):
    """The Lime object a request names does not exist, or has no Billecta twin to act on."""

    status = 404
    code = "not_found"


class InvalidRequest(PermanentError):
    """The request itself is wrong (a value out of range); nothing was sent."""

    status = 400
    code = "invalid_request"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ActionRefused(PermanentError):
    """Billecta does not allow the action in the object's present state (or refused it)."""

    status = 409
    code = "refused"
