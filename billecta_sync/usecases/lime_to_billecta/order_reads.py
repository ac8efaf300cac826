"""What sending an order needs from Lime, read for many orders at once.

An order needs itself, its creditor's Billecta id, its rows with their articles, the articles' creditor
relations (creditorarticle) and the debtor's (creditordebtor). Read one order at a time that was a GET or
query per object — 12 requests for an order of two articles; read here it is four queries for up to
``WINDOW`` orders, the relations nested into the same query (Lime's responseFormat).

A batch's per-object tasks stay one task per order. The first of them to run claims the next orders of
its batch and reads for all of them; their tasks wait for that read instead of reading themselves, so a
batch costs four queries per window instead of twelve per order. Data read ahead is for one task's first
attempt only (kept under its monitor log, used once, for at most ``TTL_S``): a retry reads Lime again.
Reading ahead can never make an order act twice — the invoice is created at most once by its outbound
intent and attested only when Billecta says it is not — it only decides which state of the order is
sent: the one of at most ``TTL_S`` ago, as if the user had pressed the command a moment earlier.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select

from billecta_sync.container import Services
from billecta_sync.db import MonitorLog, MonitorStatus
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.usecases.common import option_key, relation_id

log = logging.getLogger(__name__)

WINDOW = 50  # orders read by one read-ahead: 4 queries, rows of 50 orders in one or two pages
TTL_S = 300
WAIT_S = 10  # how long a task waits for the reader of its window before reading alone
_DATA_KEY = "order-reads:data:{}"
_CLAIM_KEY = "order-reads:claim:{}"


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
        "order", _in(repo, "order", "_id", ids), {"creditor": ["creditorpublicid"]})}
    rows_by_order: dict[int, list[dict[str, Any]]] = {i: [] for i in orders}
    for row in repo.find_nested("orderrow", _in(repo, "orderrow", "order", list(orders)), {"article": None}):
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


def _in(repo: LimeRepo, logical_type: str, prop: str, values: list[int]) -> dict[str, Any]:
    key = "_id" if prop == "_id" else repo.mappings[logical_type].prop(prop)
    return {"key": key, "op": "IN", "exp": values}


def _links(repo: LimeRepo, logical_type: str, other: str, creditors: list[int],
           others: list[int]) -> dict[tuple[int | None, int], dict[str, Any]]:
    """The oldest relation object per (creditor, other) pair — the one ``find_one`` would pick."""
    if not creditors or not others:
        return {}
    links: dict[tuple[int | None, int], dict[str, Any]] = {}
    query = {"op": "AND", "exp": [_in(repo, logical_type, "creditor", creditors),
                                  _in(repo, logical_type, other, others)]}
    for link in repo.find(logical_type, filter=query):  # ordered by _id: the first per pair is the oldest
        pair = (relation_id(link.get("creditor")), relation_id(link.get(other)))
        if pair[1] is not None:
            links.setdefault((pair[0], pair[1]), link)
    return links


def order_data(services: Services, repo: LimeRepo, order_id: int, monitor_log_id: int | None) -> OrderData | None:
    """The order's data: read ahead for this very task by another task of its batch, or read now with
    the next orders of the batch (for their tasks). None if the order does not exist."""
    batch_id, attempts = _log_of(services, monitor_log_id)
    if batch_id is None or monitor_log_id is None or attempts > 1:
        return read_orders(repo, [order_id]).get(order_id)  # a retry, or no batch: read fresh, alone
    client = services.redis
    if not client.set(_CLAIM_KEY.format(monitor_log_id), "1", nx=True, ex=TTL_S):
        # Another task of the batch is reading for this one (tasks start together on a thread pool).
        # Keyed by the monitor log, not the order: only this task of this batch gets it, once.
        got = client.blpop([_DATA_KEY.format(monitor_log_id)], timeout=WAIT_S)
        if got is not None and got[1] not in (b"null", "null"):
            return _load(got[1])
        return read_orders(repo, [order_id]).get(order_id)  # its reader died or found nothing: read alone
    window = _claim_window(services, batch_id, monitor_log_id)
    read = read_orders(repo, [order_id, *(other for _, other in window)])
    if window:
        pipe = client.pipeline(transaction=False)
        for log_id, other in window:
            key = _DATA_KEY.format(log_id)
            pipe.rpush(key, json.dumps(asdict(read[other])) if other in read else "null")
            pipe.expire(key, TTL_S)
        pipe.execute()
        log.info("read ahead for %d more orders of batch %s", len(window), batch_id)
    return read.get(order_id)


def _log_of(services: Services, monitor_log_id: int | None) -> tuple[int | None, int]:
    """The batch of the task's monitor log and the attempt it is on."""
    if monitor_log_id is None:
        return None, 0
    with services.db.session() as session:
        row = session.execute(select(MonitorLog.batch_id, MonitorLog.attempts)
                              .where(MonitorLog.id == monitor_log_id)).first()
    return (None, 0) if row is None else (row[0], int(row[1] or 0))


def _claim_window(services: Services, batch_id: int, monitor_log_id: int) -> list[tuple[int, int]]:
    """(log, order) of the next unfinished tasks of the batch that no other task is reading for yet."""
    with services.db.session() as session:
        rows = session.execute(
            select(MonitorLog.id, MonitorLog.object_id)
            .where(MonitorLog.batch_id == batch_id, MonitorLog.id > monitor_log_id,
                   MonitorLog.status == MonitorStatus.RUNNING)
            .order_by(MonitorLog.id).limit(WINDOW - 1)).all()
    candidates = [(int(log_id), int(o)) for log_id, o in rows if str(o).isdigit()]
    if not candidates:
        return []
    pipe = services.redis.pipeline(transaction=False)
    for log_id, _ in candidates:
        pipe.set(_CLAIM_KEY.format(log_id), "1", nx=True, ex=TTL_S)
    return [pair for pair, won in zip(candidates, pipe.execute(), strict=True) if won]


def _load(raw: bytes | str) -> OrderData:
    data = json.loads(raw)
    return OrderData(order=data["order"], rows=data["rows"], article_links=data["article_links"],
                     debtor_link=data["debtor_link"])


def is_message_row(row: dict[str, Any]) -> bool:
    return (option_key(row.get("rowtype")) or "standard") == "message"
