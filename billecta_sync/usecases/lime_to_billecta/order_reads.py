"""What sending an order needs from Lime, read for many orders at once.

An order needs itself, its creditor's Billecta id, its rows with their articles, the articles' creditor
relations (creditorarticle) and the debtor's (creditordebtor). Read one order at a time that was a GET or
query per object — 12 requests for an order of two articles; read here it is four queries for a whole
window of orders, the relations nested into the same query (Lime's responseFormat).

In a batch the reads are shared by a window of the batch's orders (``billecta_sync.usecases.read_ahead``).
Reading ahead can never make an order act twice — the invoice is created at most once by its outbound
intent and attested only when Billecta says it is not — it only decides which state of the order is
sent: the one of a moment ago, as if the user had pressed the command a moment earlier.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from billecta_sync.container import Services
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.usecases.common import option_key, relation_id
from billecta_sync.usecases.read_ahead import read_for_batch


@dataclass
class OrderData:
    order: dict[str, Any]  # with ``creditor`` nested: {"_id", "creditorpublicid"}
    rows: list[dict[str, Any]]  # sorted by position; each with ``article`` nested (all its properties)
    article_links: dict[str, dict[str, Any] | None]  # article id -> its creditorarticle for the order's creditor
    debtor_link: dict[str, Any] | None  # the creditordebtor of the order's creditor and debtor

    def link_of(self, article_id: int) -> dict[str, Any] | None:
        return self.article_links.get(str(article_id))


def read_orders(repo: LimeRepo, order_ids: Iterable[int]) -> dict[int, OrderData]:
    """Each existing order's data, in four queries whatever the number of orders (paged beyond 200)."""
    ids = sorted({int(i) for i in order_ids})
    if not ids:
        return {}
    orders = {int(o["_id"]): o for o in repo.find_nested(
        "order", repo.filter_in("order", "_id", ids), {"creditor": ["creditorpublicid"]})}
    rows_by_order: dict[int, list[dict[str, Any]]] = {i: [] for i in orders}
    for row in repo.find_nested("orderrow", repo.filter_in("orderrow", "order", list(orders)), {"article": None}):
        order_id = relation_id(row.get("order"))
        if order_id in rows_by_order:
            rows_by_order[order_id].append(row)
    creditors = sorted({c for o in orders.values() if (c := relation_id(o.get("creditor"))) is not None})
    debtors = sorted({d for o in orders.values() if (d := relation_id(o.get("debtor"))) is not None})
    articles = sorted({a for rows in rows_by_order.values() for r in rows
                       if (a := relation_id(r.get("article"))) is not None})
    article_links = _links(repo, "creditorarticle", "article", creditors, articles)
    debtor_links = _links(repo, "creditordebtor", "debtor", creditors, debtors)
    result: dict[int, OrderData] = {}
    for order_id, order in orders.items():
        creditor_id = relation_id(order.get("creditor"))
        rows = sorted(rows_by_order[order_id], key=lambda r: (int(r.get("position") or 0), int(r["_id"])))
        wanted = {a for r in rows if (a := relation_id(r.get("article"))) is not None}
        result[order_id] = OrderData(
            order=order, rows=rows,
            article_links={str(a): article_links.get((creditor_id, a)) for a in wanted},
            debtor_link=debtor_links.get((creditor_id, relation_id(order.get("debtor")))))
    return result


def _links(repo: LimeRepo, logical_type: str, other: str, creditors: list[int],
           others: list[int]) -> dict[tuple[int | None, int], dict[str, Any]]:
    """The oldest relation object per (creditor, other) pair — the one ``find_one`` would pick."""
    if not creditors or not others:
        return {}
    links: dict[tuple[int | None, int], dict[str, Any]] = {}
    query = {"op": "AND", "exp": [repo.filter_in(logical_type, "creditor", creditors),
                                  repo.filter_in(logical_type, other, others)]}
    for link in repo.find(logical_type, filter=query):  # ordered by _id: the first per pair is the oldest
        pair = (relation_id(link.get("creditor")), relation_id(link.get(other)))
        if pair[1] is not None:
            links.setdefault((pair[0], pair[1]), link)
    return links


def order_data(services: Services, repo: LimeRepo, order_id: int, monitor_log_id: int | None) -> OrderData | None:
    """The order's data: read ahead for this task by another task of its batch, or read now together with
    the next orders of the batch (for their tasks). None if the order does not exist."""
    return read_for_batch(services, "order", order_id, monitor_log_id, lambda ids: read_orders(repo, ids),
                          encode=asdict, decode=lambda data: OrderData(**data))


def is_message_row(row: dict[str, Any]) -> bool:
    return (option_key(row.get("rowtype")) or "standard") == "message"
