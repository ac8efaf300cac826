"""Change-driven sync: which Lime changes are worth a Billecta call, and which orders a moved row re-sends."""

from __future__ import annotations

from typing import Any

import pytest

from billecta_sync.inbound.lime_events import parse_lime_event
from billecta_sync.mappings import FieldMappings
from billecta_sync.usecases.lime_to_billecta import changes


def event(name: str, object_id: int, values: dict[str, Any], original: dict[str, Any] | None = None
          ) -> dict[str, Any]:
    body: dict[str, Any] = {"id": object_id, "limetype": name.split(".")[0], "values": values}
    if original is not None:
        body["original_values"] = original
    return {"event": name, "body": body}


class Recorder:
    """Stands in for the use-cases: records what the change would have started."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, orders: dict[int, dict[str, Any]] | None = None) -> None:
        self.calls: list[tuple[str, int]] = []
        for name in ("upsert_debtor", "upsert_article", "anonymize_person"):
            monkeypatch.setattr(changes, name, self._record(name))
        monkeypatch.setattr(changes, "upsert_attest_order",
                            lambda services, order_id, attest: self.calls.append(("upsert_order", order_id)) or "")
        self.orders = orders or {}
        monkeypatch.setattr(changes, "LimeRepo", lambda *_: self)

    def _record(self, name: str) -> Any:
        return lambda services, object_id: self.calls.append((name, object_id)) or ""

    def get_or_none(self, _limetype: str, order_id: int) -> dict[str, Any] | None:
        return self.orders.get(order_id)


class Services:
    mappings = FieldMappings.build()
    lime = None


def run(payload: dict[str, Any]) -> str:
    return changes.plan(Services(), parse_lime_event(payload))  # type: ignore[arg-type]


def test_only_changes_to_synced_properties_start_a_sync(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder(monkeypatch)
    assert "no synced property changed" in run(event("debtor.update", 5, {}, {"billecta_error_message": "x"}))
    run(event("debtor.update", 5, {"city": "Malmö"}, {"city": "Lund"}))
    run(event("article.update", 6, {}, {"unitprice": 10}))
    run(event("creditorarticle.new", 9, {"article": 6, "creditor": 1}))
    run(event("creditordebtor.update", 8, {"debtor": 5}, {"debtorpublicid": ""}))  # our own write coming back
    run(event("person.update", 3, {"anonymized": False}, {"email": "a@b"}))
    run(event("person.update", 3, {"anonymized": True}, {"anonymized": False}))
    assert rec.calls == [("upsert_debtor", 5), ("upsert_article", 6), ("upsert_article", 6),
                         ("anonymize_person", 3)]


def test_a_moved_row_resyncs_both_orders_while_they_can_change(monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Recorder(monkeypatch, orders={
        10: {"orderstatus": "created", "actionpublicid": "a-10"},
        11: {"orderstatus": "errorupsert", "actionpublicid": ""},
        12: {"orderstatus": "attested", "actionpublicid": "a-12"},
        13: {"orderstatus": "created", "actionpublicid": ""},  # never sent: sending it is the user's call
    })
    run(event("orderrow.update", 1, {"order": 11}, {"order": 10}))
    assert sorted(rec.calls) == [("upsert_order", 10), ("upsert_order", 11)]
    rec.calls.clear()
    assert "not re-sent" in run(event("orderrow.update", 2, {"order": 12}, {"quantity": 1}))
    assert "not re-sent" in run(event("orderrow.new", 3, {"order": 13}))
    assert rec.calls == []
