"""Articles: a Lime article becomes one Billecta product per creditor (creditorarticle)."""

from __future__ import annotations

from typing import Any

from billecta_sync.billecta.errors import BillectaApiNotFoundException
from billecta_sync.container import Services
from billecta_sync.errors import PermanentError
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.usecases.common import as_decimal, option_key, text

PRODUCT_TYPES = {"standard": "Service", "package": "Package"}
INT32_MAX = 2_147_483_647


def _bookkeeping_account(article: dict[str, Any]) -> int | None:
    """Billecta's BookKeepingAccount is an int32 (a BAS account such as 3010); Lime holds it as text."""
    raw = text(article.get("bookkeepingaccount"))
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or int(raw) > INT32_MAX:
        raise PermanentError(f"article {article['_id']} has bookkeeping account {raw!r}; "
                             "Billecta needs a whole number such as 3010")
    return int(raw)


def product_view(article: dict[str, Any], creditor_public_id: str) -> dict[str, Any]:
    number = text(article.get("articlenumber"))
    name = text(article.get("name"))
    if not number and not name:
        raise PermanentError(f"article {article['_id']} has neither article number nor name")
    unit_price = as_decimal(article.get("unitprice"))
    vat = as_decimal(article.get("vat"))
    is_active = article.get("isactive")
    return {
        "CreditorPublicId": creditor_public_id,
        "ProductExternalId": str(article["_id"]),
        "ArticleNumber": number or None,
        "Description": name or number,
        "Units": text(article.get("unit")) or None,
        # ProductView carries plain numbers in major units (only the invoice rows use minor-unit amounts).
        "UnitPrice": float(unit_price) if unit_price is not None else 0.0,
        "VAT": float(vat) if vat is not None else 25.0,
        "ProductType": PRODUCT_TYPES.get(option_key(article.get("articletype")) or "", "Service"),
        "BookKeepingAccount": _bookkeeping_account(article),
        "IsActive": True if is_active is None else bool(is_active),
    }


def ensure_product(services: Services, repo: LimeRepo, creditor_id: int, creditor_public_id: str,
                   article_id: int, *, validate: bool = True, cache: dict[int, str] | None = None,
                   article: dict[str, Any] | None = None) -> str:
    """The article's Billecta product id for this creditor, creating product/creditorarticle if needed."""
    if cache is not None and article_id in cache:
        return cache[article_id]
    link = repo.find_one("creditorarticle", {"creditor": creditor_id, "article": article_id})
    if link is None:
        link = repo.create("creditorarticle", {"creditor": creditor_id, "article": article_id})
    public_id = text(link.get("articlepublicid"))
    if public_id and validate:
        try:
            services.billecta.get_product(public_id)
        except BillectaApiNotFoundException:
            public_id = ""
    if not public_id:
        view = product_view(article or repo.get("article", article_id), creditor_public_id)
        existing = services.billecta.find_product_by_external_id(creditor_public_id, view["ProductExternalId"])
        if existing and existing.get("ProductPublicId"):
            public_id = str(existing["ProductPublicId"])
        else:
            public_id = services.billecta.create_product(view)
        repo.update("creditorarticle", link["_id"], {"articlepublicid": public_id, "billecta_error_message": ""})
    if cache is not None:
        cache[article_id] = public_id
    return public_id
