"""A batch of orders reads Lime once per window of orders, not once per order and related object."""

from __future__ import annotations

from billecta_sync import logs, monitor
from billecta_sync.container import Services
from billecta_sync.usecases.lime_to_billecta.orders import upsert_attest_order
from tests.unit.fakes import FakeBillecta, FakeLime, add_order, option


def more_orders(lime: FakeLime, first: int, count: int) -> list[int]:
    """``count`` more orders like ``first`` (same creditor, debtor and article), with one row each."""
    template = lime.obj("order", first)
    (row,) = [r for r in lime.all("orderrow") if r["order"] == first]
    ids = []
    for _ in range(count):
        order = lime.add("order", **{k: v for k, v in template.items() if k != "_id"})
        lime.add("orderrow", **{**{k: v for k, v in row.items() if k != "_id"}, "order": order})
        ids.append(order)
    return ids


def run_as_batch_task(services: Services, order_id: int, log_id: int) -> str:
    """What the task base class does around a per-object use-case: mark the log started, bind its id."""
    monitor.log_started(services.db, log_id, f"task-{log_id}")
    logs.bind(monitor_log_id=log_id)
    try:
        return upsert_attest_order(services, order_id, attest=True)
    finally:
        logs.clear()


def test_the_first_task_of_a_batch_reads_for_the_next_ones(services: Services, fake_lime: FakeLime,
                                                          fake_billecta: FakeBillecta) -> None:
    ids = add_order(fake_lime, fake_billecta)
    orders = [ids.order, *more_orders(fake_lime, ids.order, 4)]
    batch_id = monitor.create_batch(services.db, "send", "upsert_attest_orders")
    log_ids = [log_id for log_id, _ in monitor.add_logs(services.db, batch_id, "upsert_attest_orders", "order", orders)]

    reads_per_task = []
    for order_id, log_id in zip(orders, log_ids, strict=True):
        before = len(fake_lime.reads)
        run_as_batch_task(services, order_id, log_id)
        reads_per_task.append(fake_lime.reads[before:])

    # Four queries for the whole batch — orders with their creditor, rows with their articles, the
    # creditorarticles and the creditordebtors — and none by the tasks after the first.
    assert reads_per_task[0] == ["query order", "query orderrow", "query creditorarticle", "query creditordebtor"]
    assert reads_per_task[1:] == [[]] * 4
    # Each order still gets its own invoice and exactly one write: the invoice id with the final status.
    assert {option_key(fake_lime.obj("order", o)["orderstatus"]) for o in orders} == {"attested"}
    assert len({fake_lime.obj("order", o)["actionpublicid"] for o in orders}) == 5
    assert [w.object_id for w in fake_lime.writes_to("order")] == orders


def test_a_retry_reads_the_order_again_instead_of_what_was_read_ahead(services: Services, fake_lime: FakeLime,
                                                                     fake_billecta: FakeBillecta) -> None:
    ids = add_order(fake_lime, fake_billecta)
    second = more_orders(fake_lime, ids.order, 1)[0]
    batch_id = monitor.create_batch(services.db, "send", "upsert_attest_orders")
    (first_log, _), (second_log, _) = monitor.add_logs(services.db, batch_id, "upsert_attest_orders", "order",
                                                        [ids.order, second])
    run_as_batch_task(services, ids.order, first_log)  # reads ahead for the second order
    fake_lime.obj("order", second)["orderstatus"] = option("cancelled")  # changed in Lime since
    monitor.log_started(services.db, second_log, "attempt-1")  # its first attempt failed before reading

    outcome = run_as_batch_task(services, second, second_log)  # the second attempt

    assert outcome == f"Order {second} is already cancelled; nothing sent."


def option_key(value: object) -> str:
    return str(value["key"]) if isinstance(value, dict) else str(value)
