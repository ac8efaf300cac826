"""Value conversions for Billecta's wire format: amounts, dates and enums.

* Amounts are ``{"CurrencyCode": "SEK", "Value": <minor units>}``: 125.50 SEK travels as 12550.
* Dates are ISO-8601 strings. Billecta's own examples vary (with or without ``T``, offset, fraction),
  so parsing is lenient while formatting sticks to one plain form.
* Enums are declared with integer codes in the schemas but exchanged as names; we send names and
  accept either.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import Enum
from typing import Any

__all__ = [
    "ActionType",
    "CommentTargetType",
    "DebtCollectionActionLevelType",
    "DebtCollectionActionStageType",
    "DebtorType",
    "DeliveryMethodType",
    "DiscountType",
    "EventType",
    "InterestType",
    "InvoiceActionStageType",
    "LanguageType",
    "ProductType",
    "RecordType",
    "RegisterPaymentOverShootingAmountHandlingType",
    "SwishStatusType",
    "UnhandledPaymentStateType",
    "UnhandledPaymentType",
    "amount",
    "enum_code",
    "enum_name",
    "format_date",
    "format_datetime",
    "format_query_date",
    "major_units",
    "parse_date",
    "parse_datetime",
    "to_decimal",
]

_CENT = Decimal("0.01")


# --- amounts ----------------------------------------------------------------------------------------

def to_decimal(value: Decimal | float | int | str | None) -> Decimal | None:
    """A Decimal from the usual numeric inputs; floats go through ``str`` so 0.1 stays 0.1."""
    if value is None:
        return None
    if isinstance(value, bool):
        # bool is an int subclass; True silently becoming 1 kr is never what the caller meant
        raise TypeError("a boolean is not an amount")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip().replace("\u00a0", "").replace(" ", "")
        if not text:
            return None
        if "," in text and "." not in text:
            text = text.replace(",", ".")  # Swedish decimal comma
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"not a number: {value!r}") from None
    else:
        raise TypeError(f"cannot read an amount from {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return result


def amount(major: Decimal | float | int | str | None, currency: str = "SEK") -> dict[str, Any] | None:
    """Billecta AmountView from an amount in major units (kronor), rounded half-up to whole öre."""
    value = to_decimal(major)
    if value is None:
        return None
    minor = (value.quantize(_CENT, rounding=ROUND_HALF_UP) * 100).to_integral_value()
    return {"CurrencyCode": currency, "Value": int(minor)}


def major_units(amount_view: dict[str, Any] | None) -> Decimal | None:
    """Amount in major units (two decimals) from an AmountView; None when absent."""
    if not amount_view:
        return None
    raw = amount_view.get("Value")
    if raw is None:
        return None
    minor = to_decimal(raw)
    if minor is None:
        return None
    return (minor / 100).quantize(_CENT, rounding=ROUND_HALF_UP)


# --- dates ------------------------------------------------------------------------------------------

_DT_RE = re.compile(
    r"""^\s*(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})
        (?:[T\s](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d+))?)?)?
        \s*(?P<tz>Z|z|[+-]\d{2}(?::?\d{2})?)?\s*$""",
    re.VERBOSE,
)


def format_date(value: date) -> str:
    """A calendar date as Billecta's date-time (midnight, no offset): ``2024-05-01T00:00:00``."""
    if isinstance(value, datetime):
        value = value.date()
    return f"{value.isoformat()}T00:00:00"


def format_datetime(value: datetime) -> str:
    """ISO-8601 to whole seconds, keeping the offset when the datetime is aware."""
    return value.replace(microsecond=0).isoformat()


def format_query_date(value: date) -> str:
    """Dates in query strings (``from``/``to``) are plain ``YYYY-MM-DD``."""
    if isinstance(value, datetime):
        value = value.date()
    return value.isoformat()


def _tz(text: str | None) -> timezone | None:
    if not text:
        return None
    if text in ("Z", "z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def parse_datetime(value: str | datetime | date | None) -> datetime | None:
    """Read the date-time forms Billecta has been seen to use; None for empty input.

    Accepts ``T`` or a space between date and time, an optional fraction of any length (.NET sends
    seven digits), and ``Z``, ``+02:00`` or ``+0200`` offsets. A bare date gives midnight.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if not value.strip():
        return None
    m = _DT_RE.match(value)
    if m is None:
        raise ValueError(f"not an ISO date-time: {value!r}")
    fraction = (m["f"] or "")[:6].ljust(6, "0")
    return datetime(
        int(m["y"]), int(m["mo"]), int(m["d"]),
        int(m["h"] or 0), int(m["mi"] or 0), int(m["s"] or 0), int(fraction),
        tzinfo=_tz(m["tz"]),
    )


def parse_date(value: str | datetime | date | None) -> date | None:
    """The calendar date part of a Billecta date-time, as written (no time-zone shifting)."""
    parsed = parse_datetime(value)
    return parsed.date() if parsed is not None else None


# --- enums ------------------------------------------------------------------------------------------
# Built with the functional API because Billecta uses member names such as "None" that are not valid
# Python identifiers in class syntax. Plain Enum (not IntEnum) on purpose: json.dumps would write an
# IntEnum as its number, and Billecta expects names.

InvoiceActionStageType = Enum("InvoiceActionStageType", [
    ("None", 0), ("Created", 1), ("ReminderInvoiceSent", 2), ("Manual", 5), ("Completed", 6),
    ("Cancelled", 7), ("InvoiceSent", 12), ("Attested", 13), ("SentToDebtCollection", 16),
    ("SalesRequested", 20), ("SaleRequestAccepted", 21), ("SalesRequestedCancelled", 22),
    ("SalesRequestedDenied", 23), ("Unknown", -1),
])

DebtCollectionActionStageType = Enum("DebtCollectionActionStageType", [
    ("None", 0), ("Created", 1), ("ReminderInvoiceSent", 2), ("DebtCollectionInvoiceSent", 3),
    ("SentToBailiff", 4), ("Manual", 5), ("Completed", 6), ("Cancelled", 7), ("ForeignManual", 8),
    ("AwaitingFeePayment", 9), ("Attested", 13), ("DebtCollectionClaimDue", 14), ("LatePaymentInvoiceSent", 24),
    ("DebtCollectionClaimResponseRequested", 25), ("ReadyForBailiff", 26), ("LongTermSurveilance", 27),
    ("VerdictObtained", 28), ("SentToBailiffEnforcement", 29), ("ForeignDebtorLetterSent", 30),
    ("ForeignCreditorLetterSent", 31), ("EnforcementResponseRequested", 32), ("ReadyForEnforcement", 33),
    ("ForeignSentToLocalRepresentative", 35), ("ForeignMakeReadyForLocalRepresentative", 36),
    ("ReadyForAttest", 37), ("ReadyForAssistance", 38), ("ReadyForAssistanceWithBailiff", 39),
    ("Assisted", 40), ("AssistedWithBailiff", 41), ("Unknown", -1),
])

DebtCollectionActionLevelType = Enum("DebtCollectionActionLevelType", [
    ("LatePaymentFee", 0), ("Reminders", 1), ("DebtCollection", 2), ("Bailiff", 3), ("Unknown", -1),
])

DeliveryMethodType = Enum("DeliveryMethodType", [
    ("Email", 0), ("Mail", 1), ("Manually", 2), ("SMS", 3), ("EInvoice", 4), ("Kivra", 5), ("Avy", 6),
    ("Unknown", -1),
])

LanguageType = Enum("LanguageType", [("SV", 0), ("EN", 1), ("FI", 2)])

DebtorType = Enum("DebtorType", [("Private", 0), ("Company", 1), ("Undefined", -1)])

ProductType = Enum("ProductType", [
    ("Service", 0), ("Commodity", 1), ("Package", 2), ("VAT", 3), ("Unknown", -1),
])

RecordType = Enum("RecordType", [("Standard", 0), ("Message", 1), ("Package", 2), ("Unknown", -1)])

InterestType = Enum("InterestType", [
    ("Fixed", 0), ("AboveEffectiveReference", 1), ("NoInterest", 2), ("Unknown", -1),
])

DiscountType = Enum("DiscountType", [("Amount", 0), ("Percentage", 1), ("Unknown", -1)])

ActionType = Enum("ActionType", [
    ("DebtCollectionAction", 0), ("InstallmentPlanAction", 1), ("InvoiceAction", 2), ("CreditInvoiceAction", 3),
    ("ContractInvoiceAction", 5), ("SelfInvoiceAction", 6), ("VerificationInvoiceAction", 7),
    ("DebentureAction", 8), ("InterestInvoiceAction", 9), ("SupplierInvoiceAction", 10),
    ("ReconciliationInvoiceAction", 11), ("OrderAction", 12), ("OrderInvoiceAction", 13),
    ("PaymentAdviceAction", 14), ("Unknown", -1),
])

CommentTargetType = Enum("CommentTargetType", [("Private", 0), ("ToDebtor", 1), ("ToBillecta", 2), ("Unknown", -1)])

RegisterPaymentOverShootingAmountHandlingType = Enum("RegisterPaymentOverShootingAmountHandlingType", [
    ("None", 0), ("AsCurrencyDifference", 1), ("AsOverPayments", 2), ("Unknown", -1),
])

UnhandledPaymentType = Enum("UnhandledPaymentType", [
    ("UnmatchedPayment", 0), ("OverPayment", 1), ("ManualBalance", 2), ("BalanceFromInvoice", 3),
])

UnhandledPaymentStateType = Enum("UnhandledPaymentStateType", [
    ("Unhandled", 0), ("UsedOnInvoice", 1), ("UsedOnInvoiceInOtherCreditor", 2), ("Deleted", 4),
    ("RepaymentPending", 5), ("Repaid", 6),
])

SwishStatusType = Enum("SwishStatusType", [
    ("Created", 0), ("Declined", 1), ("Error", 2), ("Paid", 3), ("Cancelled", 4), ("Refunded", 5), ("Unknown", -1),
])

# The subset of event codes the service maps into Lime history; the schema lists about a hundred.
EventType = Enum("EventType", [
    ("Created", 0), ("Attested", 1), ("InvoiceSent", 2), ("Paid", 3), ("Credited", 4), ("InvoiceDue", 5),
    ("WillBeSentToDebtCollection", 6), ("SentToDebtCollection", 7), ("Cancelled", 8), ("CommentedByDebtor", 9),
    ("CommentedByCreditor", 10), ("ReadByUser", 11), ("Paused", 12), ("Resumed", 13), ("Disputed", 14),
    ("UnDisputed", 15), ("SmsSent", 16), ("SmsWillBeSent", 19), ("DebtCollectionSent", 21),
    ("ManagedForBailiffRegistration", 22), ("WillBeManagedForBailiffRegistration", 23),
    ("WillSendDebtCollectionInvoice", 24), ("WillSendReminderInvoice", 25), ("OriginalInvoiceDue", 26),
    ("ReminderDue", 27), ("DebtCollectionDue", 28), ("Completed", 31), ("Updated", 34), ("PaymentCancelled", 37),
    ("ReminderInvoiceSent", 41), ("WillSendInvoice", 42), ("EmailEvent", 44), ("UnAttested", 45),
    ("AutogiroApprovalChanged", 55), ("AutogiroWithdrawal", 57), ("OverPayment", 59), ("FuturePayment", 60),
    ("WrittenOff", 64), ("LongTermSurveilance", 65), ("SentToBailiff", 70), ("SentToBailiffExecution", 71),
    ("PaymentRefunded", 78), ("BalanceFromInvoice", 91), ("EvictionMessageSentToDebtor", 92),
    ("PaymentInitiated", 93), ("PaymentAcknowledged", 94), ("ExcludedFromSync", 95),
    ("PublicCommentByAdmin", 996), ("Archived", 998), ("Unknown", 1000),
])

_RAISE: Any = object()


def _member(value: object, enum: type[Enum]) -> Enum:
    if isinstance(value, enum):
        return value
    if isinstance(value, bool):
        raise TypeError(f"{value!r} is not a {enum.__name__}")
    if isinstance(value, Enum):
        value = value.name  # a member of a look-alike enum: go by name
    if isinstance(value, int):
        try:
            return enum(value)
        except ValueError:
            raise ValueError(f"{value} is not a {enum.__name__} code") from None
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"-?\d+", text):
            return _member(int(text), enum)
        if text in enum.__members__:
            return enum.__members__[text]
        lowered = text.lower()
        for name, member in enum.__members__.items():
            if name.lower() == lowered:
                return member
        raise ValueError(f"{value!r} is not a {enum.__name__} name; known: {list(enum.__members__)}")
    raise TypeError(f"cannot read a {enum.__name__} from {type(value).__name__}")


def enum_name(value: object, enum: type[Enum], default: Any = _RAISE) -> str | None:
    """Billecta's name for ``value`` given as a name (any case), an int code, a numeric string or a member.

    None gives None. Unknown values raise ``ValueError`` unless ``default`` is given.
    """
    if value is None:
        return None
    try:
        return _member(value, enum).name
    except (ValueError, TypeError):
        if default is _RAISE:
            raise
        return default  # type: ignore[no-any-return]


def enum_code(value: object, enum: type[Enum], default: Any = _RAISE) -> int | None:
    """The integer code of ``value`` (same inputs as ``enum_name``)."""
    if value is None:
        return None
    try:
        return int(_member(value, enum).value)
    except (ValueError, TypeError):
        if default is _RAISE:
            raise
        return default  # type: ignore[no-any-return]
