"""The default Lime data model that the sandbox ships, as plain Python data.

This mirrors ``lime-data-model.md``: the limetypes and properties billecta-sync reads and writes by
default. The sandbox creates one table per limetype from it and validates every write against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Lime property types the sandbox supports ("time" is Lime's name for a datetime).
PROPERTY_TYPES = frozenset(
    {"string", "text", "integer", "decimal", "date", "time", "yesno", "option", "belongsto", "file"}
)

# System fields every limeobject carries, with the Lime type of their value.
SYSTEM_FIELDS: dict[str, str] = {
    "_id": "integer",
    "_timestamp": "time",
    "_createdtime": "time",
    "_createduser": "integer",
    "_updateduser": "integer",
    "_descriptive": "string",
}


@dataclass(frozen=True)
class Option:
    id: int
    key: str
    text: str
    order: int

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "key": self.key, "text": self.text, "inactive": False, "order": self.order}


@dataclass(frozen=True)
class Property:
    name: str
    type: str
    options: tuple[Option, ...] = ()
    related: str | None = None  # target limetype of a belongsto
    indexed: bool = False

    def option_by_key(self, key: str) -> Option | None:
        return next((o for o in self.options if o.key == key), None)

    def option_by_id(self, option_id: int) -> Option | None:
        return next((o for o in self.options if o.id == option_id), None)

    @property
    def default_option(self) -> Option | None:
        # Lime option properties always have a selected option; the first one is the default.
        return self.options[0] if self.options else None


@dataclass(frozen=True)
class LimeType:
    name: str
    singular: str
    plural: str
    properties: tuple[Property, ...]
    descriptive: tuple[str, ...] = ()  # properties joined into ``_descriptive``
    _by_name: dict[str, Property] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({p.name: p for p in self.properties})

    def get(self, name: str) -> Property | None:
        return self._by_name.get(name)

    @property
    def relations(self) -> tuple[Property, ...]:
        return tuple(p for p in self.properties if p.type == "belongsto")


# --- building helpers -------------------------------------------------------------------------

_option_ids = iter(range(1001, 100_000))  # stable option ids: assigned in model order


def _opt(name: str, *keys: str, texts: dict[str, str] | None = None) -> Property:
    texts = texts or {}
    options = tuple(
        Option(next(_option_ids), key, texts.get(key, key.replace("_", " ").capitalize()), i + 1)
        for i, key in enumerate(keys)
    )
    return Property(name, "option", options=options, indexed=True)


def _s(name: str, indexed: bool = False) -> Property:
    return Property(name, "string", indexed=indexed)


def _t(name: str) -> Property:
    return Property(name, "text")


def _rel(name: str, target: str | None = None) -> Property:
    return Property(name, "belongsto", related=target or name, indexed=True)


def _dec(name: str) -> Property:
    return Property(name, "decimal")


def _int(name: str) -> Property:
    return Property(name, "integer")


def _date(name: str, indexed: bool = False) -> Property:
    return Property(name, "date", indexed=indexed)


def _yes(name: str) -> Property:
    return Property(name, "yesno")


def _file(name: str) -> Property:
    return Property(name, "file")


def _time(name: str) -> Property:
    return Property(name, "time")


def _lt(name: str, singular: str, plural: str, props: list[Property], descriptive: tuple[str, ...]) -> LimeType:
    return LimeType(name, singular, plural, tuple(props), descriptive)


_ERR = "billecta_error_message"

_ROWTYPE_KEYS = ("standard", "package", "message")
_DELIVERY_KEYS = ("email", "mail", "manually", "sms", "einvoice", "kivra")
_DELIVERY_TEXTS = {"sms": "SMS", "einvoice": "E-invoice"}
_MONITOR_TEXTS = {"ok": "OK", "donewitherror": "Done with error"}

_LIMETYPES = [
    _lt(
        "creditor",
        "Creditor",
        "Creditors",
        [
            _s("name"), _s("orgno"), _s("address"), _s("zipcode"), _s("city"), _s("phone"), _s("email"),
            _s("creditorpublicid", indexed=True), _t(_ERR),
        ],
        ("name",),
    ),
    _lt(
        "company",
        "Company",
        "Companies",
        [_s("name"), _s("orgno"), _s("address"), _s("zipcode"), _s("city"), _s("phone"), _s("email")],
        ("name",),
    ),
    _lt(
        "person",
        "Person",
        "Persons",
        [_s("firstname"), _s("lastname"), _s("email"), _s("mobilephone"), _rel("company"), _yes("anonymized")],
        ("firstname", "lastname"),
    ),
    _lt(
        "debtor",
        "Debtor",
        "Debtors",
        [
            _s("name"), _s("ssnregno"), _s("contactname"), _s("email"), _s("maincontactphone"), _s("address"),
            _s("zipcode"), _s("city"), _s("countrycode"), _opt("debtortype", "private", "company"),
            _rel("person"), _rel("company"), _t(_ERR),
        ],
        ("name",),
    ),
    _lt(
        "creditordebtor",
        "Creditor debtor",
        "Creditor debtors",
        [
            _rel("creditor"), _rel("debtor"), _s("debtorpublicid", indexed=True),
            # Additions to the reference model: the debtor's autogiro mandate as Billecta reports it.
            _opt("autogirostatus", "pending", "approved", "failed", "removed"), _yes("autogiroactive"), _t(_ERR),
        ],
        ("debtorpublicid",),
    ),
    _lt(
        "article",
        "Article",
        "Articles",
        [
            _s("articlenumber"), _s("name"), _s("unit"), _dec("unitprice"), _dec("vat"),
            _opt("articletype", "standard", "package"), _s("bookkeepingaccount"), _yes("isactive"), _t(_ERR),
        ],
        ("articlenumber", "name"),
    ),
    _lt(
        "creditorarticle",
        "Creditor article",
        "Creditor articles",
        [_rel("creditor"), _rel("article"), _s("articlepublicid", indexed=True), _t(_ERR)],
        ("articlepublicid",),
    ),
    _lt(
        "order",
        "Order",
        "Orders",
        [
            _rel("creditor"), _rel("debtor"),
            _opt(
                "orderstatus", "created", "processing", "attested", "errorupsert", "errorattest", "credited",
                "cancelled", "completed", texts={"errorupsert": "Error (upsert)", "errorattest": "Error (attest)"},
            ),
            _s("actionpublicid", indexed=True), _date("invoicedate"), _int("paymenttermsindays"),
            _opt("deliverymethod", *_DELIVERY_KEYS, texts=_DELIVERY_TEXTS),
            _s("ourreference"), _s("yourreference"), _t("message"), _t(_ERR),
        ],
        ("actionpublicid",),
    ),
    _lt(
        "orderrow",
        "Order row",
        "Order rows",
        [
            _rel("order"), _rel("article"), _opt("rowtype", *_ROWTYPE_KEYS), _t("description"), _dec("quantity"),
            _dec("unitprice"), _dec("vat"), _dec("discountpercentage"), _int("position"),
        ],
        ("description",),
    ),
    _lt(
        "invoice",
        "Invoice",
        "Invoices",
        [
            _rel("order"), _rel("creditor"), _rel("debtor"), _s("actionpublicid", indexed=True),
            _s("invoicenumber", indexed=True), _s("ocr"),
            _opt(
                "invoicestatus", "created", "attested", "sent", "subpaid", "paid", "expired", "credited",
                "cancelled", "debtcollection", texts={"subpaid": "Partially paid", "debtcollection": "Debt collection"},
            ),
            _date("invoicedate"), _date("invoice_expires", indexed=True), _dec("invoicedamount"),
            _dec("currentamount"), _dec("paidamount"), _dec("creditedamount"), _dec("writtenoffamount"),
            _s("currencycode"), _yes("isdisputed"), _yes("ispaused"), _date("nexteventdate"),
            _rel("creditinvoice", "invoice"),
            # Additions to the reference model: reminder invoices point at the invoice they remind of;
            # the last autogiro withdrawal event and when Billecta raised it (to ignore older ones).
            _rel("reminderof", "invoice"), _dec("reminderfee"),
            _opt("autogirostatus", "failed", "renewed",
                 texts={"failed": "Withdrawal failed", "renewed": "Withdrawal renewed"}),
            _s("autogirostatusat"), _file("invoice_pdf"),
            # When Billecta sent it, when it was paid and what was left on it (the seed's invoice handler).
            _date("invoice_sent_date"), _date("paid_date"), _dec("invoice_balance"), _t(_ERR),
        ],
        ("invoicenumber",),
    ),
    _lt(
        "invoicerow",
        "Invoice row",
        "Invoice rows",
        [
            # The model lists no keys for invoicerow.rowtype; it mirrors orderrow.rowtype, so it reuses them.
            _rel("invoice"), _rel("article"), _opt("rowtype", *_ROWTYPE_KEYS), _t("description"),
            _dec("quantity"), _dec("unitprice"), _dec("vat"), _int("position"),
        ],
        ("description",),
    ),
    _lt(
        "payment",
        "Payment",
        "Payments",
        [
            _rel("invoice"), _rel("creditor"), _rel("debtor"), _s("paymentbillectaid", indexed=True),
            _opt("paymenttype", "payment", "overpayment", "unmatched", "writeoff", "credit",
                 texts={"writeoff": "Write-off"}),
            _dec("amount"), _s("currencycode"), _date("paymentdate"), _s("paymentmeancode"),
            _s("bookkeepingaccount"), _date("transactiondate"), _yes("handled"),
            # An unhandled payment's state in Billecta (the money operations change it).
            _opt("paymentstatus", "unhandled", "usedoninvoice", "deleted", "repaid",
                 texts={"usedoninvoice": "Used on invoice"}),
        ],
        ("paymentbillectaid",),
    ),
    _lt(
        "debtcollection",
        "Debt collection",
        "Debt collections",
        [
            _rel("invoice"), _rel("debtor"), _rel("creditor"), _s("actionpublicid", indexed=True), _s("stage"),
            _dec("debtamount"), _dec("currentamount"), _dec("interestamount"), _dec("feeamount"),
            _dec("interestpercentage"), _s("nextevent"), _date("nexteventdate"),
            # No keys listed for this one either; it is the same concept as order.deliverymethod.
            _opt("deliverymethod", *_DELIVERY_KEYS, texts=_DELIVERY_TEXTS), _t(_ERR),
        ],
        ("actionpublicid",),
    ),
    _lt(
        "document",
        "Document",
        "Documents",
        [_s("title"), _file("document"), _rel("invoice"), _rel("creditor")],
        ("title",),
    ),
    # The integration monitor package's limetypes (appended last, so the option ids above stay put). The
    # integration_monitor fields are the package's; those of batch and log are the ones billecta-sync writes
    # (the package does not publish its own), with the seed's statuses.
    _lt(
        "integration_monitor",
        "Integration monitor",
        "Integration monitors",
        [
            _s("name"), _s("integration_key", indexed=True), _opt("type", "batch", "message"), _yes("active"),
            _int("alert_interval"), _int("alert_no_creates_deceeds"), _int("alert_no_updates_deceeds"),
            _int("alert_no_deletes_deceeds"), _time("alert_timestamp"),
            _opt("alertstatus", "notcalculated", "ok", "error", texts={"notcalculated": "Not calculated"}),
            _t("alerttext"),
        ],
        ("name",),
    ),
    _lt(
        "integration_monitor_batch",
        "Integration monitor batch",
        "Integration monitor batches",
        [
            _rel("integration_monitor"), _s("title"), _s("operation"),
            _opt("status", "running", "ok", "donewitherror", "error", texts=_MONITOR_TEXTS),
            _time("starttime"), _time("endtime"), _int("totalcount"), _int("okcount"), _int("errorcount"),
            _t("message"), _s("externalid", indexed=True),
        ],
        ("title",),
    ),
    _lt(
        "integration_monitor_log",
        "Integration monitor log",
        "Integration monitor logs",
        [
            _rel("integration_monitor"), _rel("integration_monitor_batch"), _s("operation"), _s("limetype"),
            _int("objectid"), _opt("status", "running", "ok", "error", texts=_MONITOR_TEXTS), _t("message"),
            _int("attempts"), _time("starttime"), _time("endtime"), _s("externalid", indexed=True),
        ],
        ("limetype", "objectid"),
    ),
]

DATA_MODEL: dict[str, LimeType] = {lt.name: lt for lt in _LIMETYPES}


def _check() -> None:
    # Catch model typos at import time rather than as confusing runtime errors.
    for lt in DATA_MODEL.values():
        for prop in lt.properties:
            assert prop.type in PROPERTY_TYPES, (lt.name, prop.name)
            assert not prop.name.startswith("_"), (lt.name, prop.name)
            if prop.type == "belongsto":
                assert prop.related in DATA_MODEL, (lt.name, prop.name, prop.related)
        for name in lt.descriptive:
            assert lt.get(name) is not None, (lt.name, name)


_check()


def all_events() -> list[str]:
    """Every subscribable webhook event name, ``{limetype}.{new,update,delete,restore}``."""
    return [f"{name}.{kind}" for name in DATA_MODEL for kind in ("new", "update", "delete", "restore")]
