"""Field mappings: which Lime limetype and property holds each piece of data the service uses.

Code always speaks of *logical* names (the defaults below, which are the default Lime data model);
a customer whose database names things differently maps them in the config file:

    mappings:
      debtor:
        limetype: customer
        properties: {ssnregno: orgnumber}

Only the entries that differ need to be given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Logical limetype -> logical properties. Relations are marked by the target limetype after "->".
DEFAULT_MODEL: dict[str, dict[str, str]] = {
    "creditor": {
        "name": "string", "orgno": "string", "address": "string", "zipcode": "string", "city": "string",
        "phone": "string", "email": "string", "creditorpublicid": "string", "billecta_error_message": "text",
    },
    "company": {
        "name": "string", "orgno": "string", "address": "string", "zipcode": "string", "city": "string",
        "phone": "string", "email": "string",
    },
    "person": {
        "firstname": "string", "lastname": "string", "email": "string", "mobilephone": "string",
        "company": "->company", "anonymized": "yesno",
    },
    "debtor": {
        "name": "string", "ssnregno": "string", "contactname": "string", "email": "string",
        "maincontactphone": "string", "address": "string", "zipcode": "string", "city": "string",
        "countrycode": "string", "debtortype": "option", "person": "->person", "company": "->company",
        "billecta_error_message": "text",
    },
    "creditordebtor": {
        "creditor": "->creditor", "debtor": "->debtor", "debtorpublicid": "string",
        "autogirostatus": "option", "autogiroactive": "yesno", "billecta_error_message": "text",
    },
    "article": {
        "articlenumber": "string", "name": "string", "unit": "string", "unitprice": "decimal", "vat": "decimal",
        "articletype": "option", "bookkeepingaccount": "string", "isactive": "yesno",
        "billecta_error_message": "text",
    },
    "creditorarticle": {
        "creditor": "->creditor", "article": "->article", "articlepublicid": "string",
        "billecta_error_message": "text",
    },
    "order": {
        "creditor": "->creditor", "debtor": "->debtor", "orderstatus": "option", "actionpublicid": "string",
        "invoicedate": "date", "paymenttermsindays": "integer", "deliverymethod": "option",
        "ourreference": "string", "yourreference": "string", "message": "text", "billecta_error_message": "text",
    },
    "orderrow": {
        "order": "->order", "article": "->article", "rowtype": "option", "description": "string",
        "quantity": "decimal", "unitprice": "decimal", "vat": "decimal", "discountpercentage": "decimal",
        "position": "integer",
    },
    "invoice": {
        "order": "->order", "creditor": "->creditor", "debtor": "->debtor", "actionpublicid": "string",
        "invoicenumber": "string", "ocr": "string", "invoicestatus": "option", "invoicedate": "date",
        "invoice_expires": "date", "invoicedamount": "decimal", "currentamount": "decimal",
        "paidamount": "decimal", "creditedamount": "decimal", "writtenoffamount": "decimal",
        "currencycode": "string", "isdisputed": "yesno", "ispaused": "yesno", "nexteventdate": "date",
        "creditinvoice": "->invoice", "reminderof": "->invoice", "reminderfee": "decimal",
        "autogirostatus": "option", "autogirostatusat": "string", "invoice_pdf": "file",
        "invoice_sent_date": "date", "paid_date": "date", "invoice_balance": "decimal",
        "billecta_error_message": "text",
    },
    "invoicerow": {
        "invoice": "->invoice", "article": "->article", "rowtype": "option", "description": "string",
        "quantity": "decimal", "unitprice": "decimal", "vat": "decimal", "position": "integer",
    },
    "payment": {
        "invoice": "->invoice", "creditor": "->creditor", "debtor": "->debtor", "paymentbillectaid": "string",
        "paymenttype": "option", "amount": "decimal", "currencycode": "string", "paymentdate": "date",
        "paymentmeancode": "string", "bookkeepingaccount": "string", "transactiondate": "date",
        "handled": "yesno", "paymentstatus": "option",
    },
    "debtcollection": {
        "invoice": "->invoice", "debtor": "->debtor", "creditor": "->creditor", "actionpublicid": "string",
        "stage": "string", "debtamount": "decimal", "currentamount": "decimal", "interestamount": "decimal",
        "feeamount": "decimal", "interestpercentage": "decimal", "nextevent": "string",
        "nexteventdate": "date", "deliverymethod": "string", "billecta_error_message": "text",
    },
    "document": {"title": "string", "document": "file", "invoice": "->invoice", "creditor": "->creditor"},
}


class MappingError(ValueError):
    pass


@dataclass(frozen=True)
class LimetypeMapping:
    logical: str
    limetype: str
    properties: Mapping[str, str]  # logical property -> Lime property

    def prop(self, logical: str) -> str:
        try:
            return self.properties[logical]
        except KeyError:
            raise MappingError(f"no mapping for property {self.logical}.{logical}") from None

    def logical_of(self, lime_prop: str) -> str | None:
        for logical, actual in self.properties.items():
            if actual == lime_prop:
                return logical
        return None

    def to_lime(self, values: Mapping[str, object]) -> dict[str, object]:
        """Translate a dict keyed by logical names into one keyed by Lime property names."""
        return {self.prop(k): v for k, v in values.items()}

    def from_lime(self, obj: Mapping[str, object]) -> dict[str, object]:
        """Translate a Lime object into a dict keyed by logical names (unmapped keys dropped)."""
        return {logical: obj.get(actual) for logical, actual in self.properties.items()}


@dataclass(frozen=True)
class FieldMappings:
    by_logical: Mapping[str, LimetypeMapping] = field(default_factory=dict)

    def __getitem__(self, logical_limetype: str) -> LimetypeMapping:
        try:
            return self.by_logical[logical_limetype]
        except KeyError:
            raise MappingError(f"no mapping for limetype {logical_limetype!r}") from None

    def logical_limetype_of(self, lime_limetype: str) -> str | None:
        for logical, mapping in self.by_logical.items():
            if mapping.limetype == lime_limetype:
                return logical
        return None

    @classmethod
    def build(cls, overrides: Mapping[str, Mapping[str, object]] | None = None) -> FieldMappings:
        overrides = overrides or {}
        unknown = sorted(set(overrides) - set(DEFAULT_MODEL))
        if unknown:
            raise MappingError(f"mappings name unknown limetypes {unknown}; known: {sorted(DEFAULT_MODEL)}")
        result: dict[str, LimetypeMapping] = {}
        for logical, props in DEFAULT_MODEL.items():
            override = overrides.get(logical) or {}
            bad_keys = sorted(set(override) - {"limetype", "properties"})
            if bad_keys:
                raise MappingError(f"mappings.{logical} has unknown keys {bad_keys}; use limetype/properties")
            prop_overrides = dict(override.get("properties") or {})  # type: ignore[arg-type]
            unknown_props = sorted(set(prop_overrides) - set(props))
            if unknown_props:
                raise MappingError(f"mappings.{logical}.properties names unknown properties {unknown_props}")
            merged = {p: str(prop_overrides.get(p, p)) for p in props}
            result[logical] = LimetypeMapping(logical, str(override.get("limetype") or logical), merged)
        return cls(result)

    def relation_target(self, logical_limetype: str, logical_prop: str) -> str | None:
        kind = DEFAULT_MODEL[logical_limetype].get(logical_prop, "")
        return kind[2:] if kind.startswith("->") else None
