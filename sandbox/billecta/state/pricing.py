"""Invoice arithmetic of the Billecta sandbox: row totals, VAT, fees and cent rounding, in minor units.

Assumptions where Billecta is silent (kept simple, and consistent so tests can rely on them): a row's
DiscountAmount is for the whole row; invoice and freight fees are added to the invoiced amount without VAT.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sandbox.billecta import contract
from sandbox.billecta.state.core import BillectaError, amount


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _dec(value: object) -> Decimal:
    return Decimal(str(value if value is not None else 0))


@dataclass
class Totals:
    currency: str
    records: list[dict[str, Any]]
    net_incl_vat: int  # sum of rows incl. VAT
    vat: int
    fees: int
    cent_rounding: int

    @property
    def invoiced(self) -> int:
        return self.net_incl_vat + self.fees + self.cent_rounding


def price_records(entry: dict[str, Any], use_cent_rounding: bool = False) -> Totals:
    """Rows with their totals, and the invoice totals, all in minor units."""
    currency = currency_of(entry)
    vat_included_default = bool(entry.get("VatIsIncluded"))
    records: list[dict[str, Any]] = []
    incl_sum = vat_sum = 0
    record_defaults = contract.defaults("InvoiceActionView", "InvoiceActionRecordView")
    for written in entry.get("Records") or []:
        # Answer with every field of the row, as Billecta does, not just the ones written.
        rec = {**record_defaults, **{k: v for k, v in written.items() if v is not None}}
        if rec["RecordType"] == "Message":
            rec.update(TotalExclVATNoDiscount=None, TotalExclVAT=None, TotalIncVAT=None)
            records.append(rec)
            continue
        gross = _dec((rec.get("UnitPrice") or {}).get("Value")) * _dec(rec.get("Quantity"))
        percentage = _dec(rec.get("DiscountPercentage"))
        discount_type = written.get("DiscountType")
        if discount_type == "Percentage" or (discount_type is None and percentage):
            discount = gross * percentage / 100
            rec["DiscountType"] = "Percentage"
        elif rec.get("DiscountAmount"):
            discount = _dec(rec["DiscountAmount"].get("Value"))
        else:
            discount = Decimal(0)
        net = gross - discount
        factor = 1 + _dec(rec.get("VAT")) / 100
        if rec.get("VatIsIncluded") or vat_included_default:
            incl = _round(net)
            excl = _round(net / factor)
            excl_no_discount = _round(gross / factor)
        else:
            excl = _round(net)
            incl = excl + _round(Decimal(excl) * (factor - 1))
            excl_no_discount = _round(gross)
        rec.update(
            TotalExclVATNoDiscount=amount(excl_no_discount, currency),
            TotalExclVAT=amount(excl, currency),
            TotalIncVAT=amount(incl, currency),
        )
        records.append(rec)
        incl_sum += incl
        vat_sum += incl - excl
    fees = sum(int((entry.get(k) or {}).get("Value") or 0) for k in ("InvoiceFee", "FreightFee"))
    cent_rounding = 0
    if use_cent_rounding:
        total = incl_sum + fees
        cent_rounding = _round(Decimal(total) / 100) * 100 - total
    return Totals(currency, records, incl_sum, vat_sum, fees, cent_rounding)


def currency_of(entry: dict[str, Any]) -> str:
    """The one currency of an invoice entry (SEK when no amount names one); mixed currencies are refused."""
    codes = {
        code
        for rec in entry.get("Records") or []
        for key in ("UnitPrice", "DiscountAmount")
        if (code := (rec.get(key) or {}).get("CurrencyCode"))
    }
    codes |= {code for key in ("InvoiceFee", "FreightFee") if (code := (entry.get(key) or {}).get("CurrencyCode"))}
    if len(codes) > 1:
        raise BillectaError(400, f"All amounts on an invoice must have the same currency; got {sorted(codes)}")
    return codes.pop() if codes else "SEK"
