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
