"""Order rows: inserting a message row right after another row (the "Add message" command in Lime)."""

from __future__ import annotations

from typing import Any

from billecta_sync.container import Services
from billecta_sync.errors import PermanentError
from billecta_sync.lime_repo import LimeRepo
from billecta_sync.locks import object_lock
from billecta_sync.usecases.common import option_key, relation_id
from billecta_sync.usecases.lime_to_billecta.orders import EDITABLE

MAX_DESCRIPTION = 1000


def add_message_to_orderrow(services: Services, orderrow_id: int, description: str) -> dict[str, Any]:
    """Insert a message row right after ``orderrow_id`` and renumber the order's rows 1..n.

    Only while the order can still change in Billecta (created, or an error status); rows of an
    attested order are locked there, so changing them in Lime would only make the two disagree.
    """
    description = description.strip()
    if not description:
        raise PermanentError("orderrow_description must not be empty")
    if len(description) > MAX_DESCRIPTION:
        raise PermanentError(f"orderrow_description must be at most {MAX_DESCRIPTION} characters")
    repo = LimeRepo(services.lime, services.mappings)
    target = repo.get("orderrow", orderrow_id)
    order_id = relation_id(target.get("order"))
    if order_id is None:
        raise PermanentError(f"order row {orderrow_id} belongs to no order")
    with object_lock(services.redis, f"order:{order_id}", timeout_s=services.settings.worker.lock_timeout_s):
        order = repo.get("order", order_id)
        status = option_key(order.get("orderstatus")) or ""
        if status not in EDITABLE or status == "processing":
            raise PermanentError(f"order {order_id} is {status}; its rows can no longer change")
        rows = sorted(repo.find("orderrow", {"order": order_id}),
                      key=lambda r: (int(r.get("position") or 0), int(r["_id"])))
        index = next(i for i, row in enumerate(rows) if int(row["_id"]) == int(orderrow_id))
        created = repo.create("orderrow", {"order": order_id, "rowtype": "message", "description": description,
                                           "position": index + 2})
        ordered = [*rows[:index + 1], created, *rows[index + 1:]]
        for position, row in enumerate(ordered, start=1):
            if int(row.get("position") or 0) != position:
                repo.update("orderrow", int(row["_id"]), {"position": position})
        return {"orderrow_id": int(created["_id"]), "order_id": order_id, "position": index + 2}
