"""Articles: a Lime article becomes one Billecta product per creditor (creditorarticle)."""

from __future__ import annotations

from typing import Any

from billecta_sync.billecta.errors import BillectaApiNotFoundException, BillectaApiRequestException
from billecta_sync.container import Services
from billecta_sync.errors import PermanentError
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.locks import object_lock
from billecta_sync.usecases.common import UNREAD, as_decimal, option_key, save_by_external_id, text
from billecta_sync.usecases.lime_to_billecta.relations import Outcome, creditor_of, linked_creditor, refusal

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
                   article: dict[str, Any] | None = None, link: dict[str, Any] | None = UNREAD) -> str:
    """The article's Billecta product id for this creditor, creating product/creditorarticle if needed.

    ``link`` is the creditorarticle when the caller has read it already (None: read, there is none)."""
    if cache is not None and article_id in cache:
        return cache[article_id]
    criteria = {"creditor": creditor_id, "article": article_id}
    if link is UNREAD or link is None:  # none read ahead may be stale: another order may have made it since
        link = repo.find_one("creditorarticle", criteria)
    if link is None:
        # Under the article's lock, so orders of a batch that share a new article make one relation, not one each.
        with object_lock(services.redis, f"article:{article_id}", timeout_s=services.settings.worker.lock_timeout_s):
            link = repo.find_one("creditorarticle", criteria) or repo.create("creditorarticle", criteria)
    public_id = text(link.get("articlepublicid"))
    if public_id and validate:
        try:
            services.billecta.get_product(public_id)
        except BillectaApiNotFoundException:
            public_id = ""
    if not public_id:
        gone = text(link.get("articlepublicid"))
        # Under the article's lock, like upsert_article: a change-driven upsert triggered by this very
        # creditorarticle may be creating the product right now, and Billecta must not get two.
        with object_lock(services.redis, f"article:{article_id}", timeout_s=services.settings.worker.lock_timeout_s):
            fresh = repo.find_one("creditorarticle", {"creditor": creditor_id, "article": article_id}) or link
            public_id = text(fresh.get("articlepublicid"))
            if public_id == gone:
                public_id = ""
            if not public_id:
                view = product_view(article or repo.get("article", article_id), creditor_public_id)
                existing = services.billecta.find_product_by_external_id(creditor_public_id,
                                                                         view["ProductExternalId"])
                if existing and existing.get("ProductPublicId"):
                    public_id = str(existing["ProductPublicId"])
                else:
                    public_id = services.billecta.create_product(view)
                repo.update("creditorarticle", fresh["_id"], {"articlepublicid": public_id,
                                                              "billecta_error_message": ""})
    if cache is not None:
        cache[article_id] = public_id
    return public_id


def _save_product(services: Services, view: dict[str, Any], public_id: str) -> str:
    """Update the product if it still exists, else find it by external id or create it; returns its id."""
    return save_by_external_id(
        view, public_id, id_field="ProductPublicId", external_field="ProductExternalId",
        update=services.billecta.update_product, find=services.billecta.find_product_by_external_id,
        create=services.billecta.create_product)


def upsert_article(services: Services, article_id: int) -> str:
    """Create or update the article's Billecta product for every creditor it is sold by (creditorarticle)."""
    repo = LimeRepo(services.lime, services.mappings)
    with object_lock(services.redis, f"article:{article_id}", timeout_s=services.settings.worker.lock_timeout_s):
        article = repo.get("article", article_id)
        outcome = Outcome(f"Article {article_id}")
        creditors: dict[int, str] = {}
        links = list(repo.find("creditorarticle", {"article": article_id}))
        if not links:
            return f"Article {article_id} has no creditor relation (creditorarticle); nothing sent."
        for link in links:
            try:
                creditor_public_id = linked_creditor(services, repo, creditor_of(link), creditors)
                view = product_view(article, creditor_public_id)
                public_id = _save_product(services, view, text(link.get("articlepublicid")))
            except Exception as exc:
                message = refusal(exc)
                repo.update("creditorarticle", link["_id"], {"billecta_error_message": message[:2000]})
                outcome.errors.append(f"creditor {creditor_of(link)}: {message}")
                continue
            repo.update("creditorarticle", link["_id"], {"articlepublicid": public_id, "billecta_error_message": ""})
            outcome.done.append(f"creditor {creditor_of(link)} → product {public_id}")
        return outcome.message()


def delete_article(services: Services, article_id: int) -> str:
    """Delete the article's products in Billecta; a product used on invoices is deactivated instead.

    A deleted product's ``articlepublicid`` is cleared. A deactivated one keeps it: the product still
    exists in Billecta (with ``IsActive=false``), and a later upsert updates that same product.
    """
    repo = LimeRepo(services.lime, services.mappings)
    with object_lock(services.redis, f"article:{article_id}", timeout_s=services.settings.worker.lock_timeout_s):
        outcome = Outcome(f"Article {article_id}")
        links = [link for link in repo.find("creditorarticle", {"article": article_id})
                 if text(link.get("articlepublicid"))]
        if not links:
            return f"Article {article_id} has no product in Billecta; nothing to delete."
        for link in links:
            public_id = text(link.get("articlepublicid"))
            try:
                try:
                    services.billecta.delete_product(public_id)
                    done = f"product {public_id} deleted"
                except BillectaApiNotFoundException:
                    done = f"product {public_id} was already gone"
                except BillectaApiRequestException as exc:
                    if exc.status_code is None or exc.status_code >= 500 or exc.status_code == 429:
                        raise
                    # Billecta keeps products that invoices use; deactivating is what it allows.
                    product = services.billecta.get_product(public_id)
                    services.billecta.update_product({**product, "IsActive": False})
                    repo.update("creditorarticle", link["_id"], {"billecta_error_message": ""})
                    outcome.done.append(f"creditor {creditor_of(link)}: product {public_id} is used on invoices, "
                                        f"so it was deactivated instead of deleted (Billecta: {exc})")
                    continue
            except Exception as exc:
                message = refusal(exc)
                repo.update("creditorarticle", link["_id"], {"billecta_error_message": message[:2000]})
                outcome.errors.append(f"creditor {creditor_of(link)}: {message}")
                continue
            repo.update("creditorarticle", link["_id"], {"articlepublicid": "", "billecta_error_message": ""})
            outcome.done.append(f"creditor {creditor_of(link)}: {done}")
        return outcome.message()
