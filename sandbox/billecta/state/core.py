"""Shared ground of the Billecta sandbox's state: the store every domain adds its part to, Billecta-style
refusals, the clock, ids and the small value helpers (amounts, OCR check digits, event records).

Nothing here knows a domain; the domain modules of this package build on it. Stored entities are kept in
wire form (PascalCase, enum names), so reads only add computed fields.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping, Sized
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol, TypeVar, cast
from zoneinfo import ZoneInfo

from sandbox.billecta import contract

TZ = ZoneInfo("Europe/Stockholm")  # Billecta works in Swedish local time (notes §1.5); tzdata is a dependency

# trigger, ids (the fields of the old body styles), context (what only the documented style's data object needs)
EmitFn = Callable[[str, dict[str, str], Mapping[str, Any]], None]


class BillectaError(Exception):
    """A refusal in Billecta's style; the app turns it into ``{"Message", "ExternalErrorCode"}``."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


def now() -> datetime:
    return datetime.now(TZ).replace(microsecond=0)


def today() -> date:
    """Billecta's today: Swedish time, whatever this machine's zone."""
    return now().date()


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def iso_date(day: date | None) -> str | None:
    # Dates without a time of day come back the way .NET prints a DateTime at midnight.
    return None if day is None else f"{day.isoformat()}T00:00:00"


def parse_day(value: object, field_name: str) -> date | None:
    """The day of a date field as written by a client (any shape the contract accepts)."""
    if value is None:
        return None
    parsed = contract.parse_datetime(str(value))
    if parsed is None:
        raise BillectaError(400, f"{field_name} is not a valid date: {value!r}")
    return parsed.date()


def new_guid() -> str:
    return str(uuid.uuid4())


def luhn_check_digit(digits: str) -> str:
    """The mod-10 check digit to append to ``digits`` (Swedish OCR references use it)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return str((10 - total % 10) % 10)


def luhn_valid(number: str) -> bool:
    return number.isdigit() and len(number) >= 2 and luhn_check_digit(number[:-1]) == number[-1]


def with_ocr(number: str) -> str:
    """An OCR reference: the digits of ``number`` and their check digit."""
    digits = "".join(ch for ch in number if ch.isdigit())
    return digits + luhn_check_digit(digits)


def amount(value: int, currency: str = "SEK") -> dict[str, Any]:
    return {"CurrencyCode": currency, "Value": int(value), "ValueForView": int(value) / 100}


def minor_units(value: object, name: str = "amount") -> int:
    """Major units from an admin request (``125.50``) to minor units."""
    try:
        return int((Decimal(str(value)) * 100).to_integral_value())
    except (InvalidOperation, ValueError) as exc:
        raise BillectaError(400, f"{name} must be a number, not {value!r}") from exc


def action_event(event_type: str, title: str, when: datetime | None = None) -> dict[str, Any]:
    """One entry of an action's ``Events`` (invoices and debt collection cases share the shape)."""
    return {
        "EventPublicId": new_guid(),
        "EventType": event_type,
        "EventDate": iso(when or now()),
        "Title": title,
        "Content": None,
        "EventBy": "Billecta sandbox",
        "Reference": None,
        "HasOccured": True,
        "IsPublic": True,
    }


class Part(Protocol):
    """A domain's piece of the store."""

    def clear(self) -> None:
        """Forget everything (``POST /_sandbox/reset``); called under the store lock."""


P = TypeVar("P", bound=Part)


class Store:
    """The sandbox's in-memory state: one re-entrant lock shared by every domain, the webhook emitter, and
    the domains' parts, each added once at start-up.

    One lock, because a single Billecta operation often touches several domains (a payment completes an
    invoice and closes its reminder); parts take it around every read and write.
    """

    def __init__(self, emit: EmitFn | None = None) -> None:
        self.lock = threading.RLock()
        self._emit: EmitFn = emit or (lambda trigger, ids, context: None)
        self._parts: dict[type, Part] = {}
        self._counted: dict[str, Sized] = {}

    def add(self, part: P, counted_as: str | None = None) -> P:
        """Add a domain's part; ``counted_as`` names it in ``counts`` (then it must have a length)."""
        if type(part) in self._parts:
            raise ValueError(f"the store already has a {type(part).__name__}")
        self._parts[type(part)] = part
        if counted_as is not None:
            if not isinstance(part, Sized):
                raise TypeError(f"{type(part).__name__} is counted as {counted_as!r} but has no length")
            self._counted[counted_as] = part
        return part

    def get(self, kind: type[P]) -> P:
        """The part of type ``kind``; a domain asks for the parts it builds on when it registers."""
        part = self._parts.get(kind)
        if part is None:
            raise LookupError(f"the store has no {kind.__name__}; register the extension that adds it first")
        return cast(P, part)

    def emit(self, trigger: str, /, context: Mapping[str, Any] | None = None, **ids: str) -> None:
        """Raise a webhook trigger (sent if ticked); the ids become the body's fields in this order.

        ``context`` carries what the ids can't name once the call is over (a payment's record, the debtor of
        a deleted invoice); only the data objects of the documented body style read it.
        """
        self._emit(trigger, ids, context or {})

    def reset(self) -> None:
        with self.lock:
            for part in self._parts.values():
                part.clear()

    def counts(self) -> dict[str, int]:
        with self.lock:
            return {name: len(part) for name, part in self._counted.items()}
