"""Per-object locks: while another worker changes an object, a use-case about it neither reads nor writes,
but reports the object busy (a transient error, so its task retries later)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from billecta_sync.container import Services
from billecta_sync.errors import ObjectBusy, PermanentError
from billecta_sync.lime.values import option_key
from billecta_sync.locks import object_lock
from billecta_sync.retry import is_retryable
from billecta_sync.usecases.lime_to_billecta.articles import upsert_article
from billecta_sync.usecases.lime_to_billecta.debtors import upsert_debtor
from billecta_sync.usecases.lime_to_billecta.orderrows import add_message_to_orderrow
from billecta_sync.usecases.lime_to_billecta.orders import attest_order, upsert_attest_order
from tests.unit.fakes import FakeBillecta, FakeLime, OrderIds, QuickLockRedis, add_order

# (the lock a use-case takes, the run) for use-cases that change one Lime object
RUNS: dict[str, tuple[Callable[[OrderIds], str], Callable[[Services, OrderIds], Any]]] = {
    "upsert_attest_order": (lambda ids: f"order:{ids.order}",
                            lambda services, ids: upsert_attest_order(services, ids.order, attest=True)),
    "attest_order": (lambda ids: f"order:{ids.order}", lambda services, ids: attest_order(services, ids.order)),
    "add_message_to_orderrow": (lambda ids: f"order:{ids.order}",
                                lambda services, ids: add_message_to_orderrow(services, ids.row, "Avser lokal 4B")),
    "upsert_debtor": (lambda ids: f"debtor:{ids.debtor}", lambda services, ids: upsert_debtor(services, ids.debtor)),
    "upsert_article": (lambda ids: f"article:{ids.article}",
                       lambda services, ids: upsert_article(services, ids.article)),
}


@pytest.mark.parametrize("use_case", sorted(RUNS))
def test_a_use_case_on_an_object_locked_elsewhere_reports_it_busy_and_changes_nothing(
        services: Services, fake_lime: FakeLime, fake_billecta: FakeBillecta, fake_redis: QuickLockRedis,
        use_case: str) -> None:
    ids = add_order(fake_lime, fake_billecta)
    key, run = RUNS[use_case]
    elsewhere = fake_redis.lock(f"lock:{key(ids)}", timeout=60)
    assert elsewhere.acquire(blocking=False)
    lime_before = {t: [dict(o) for o in fake_lime.all(t)] for t in fake_lime.objects}

    with pytest.raises(ObjectBusy, match=f"{key(ids)} is being changed by another worker") as busy:
        run(services, ids)

    assert is_retryable(busy.value)  # the task tries again later instead of giving up
    assert fake_lime.writes == [] and fake_billecta.writes() == []
    assert {t: [dict(o) for o in fake_lime.all(t)] for t in fake_lime.objects} == lime_before
    assert elsewhere.owned()  # the other worker's lock is left alone


def test_an_order_sent_once_the_other_worker_let_go_goes_through(services: Services, fake_lime: FakeLime,
                                                                  fake_billecta: FakeBillecta,
                                                                  fake_redis: QuickLockRedis) -> None:
    ids = add_order(fake_lime, fake_billecta)
    elsewhere = fake_redis.lock(f"lock:order:{ids.order}", timeout=60)
    assert elsewhere.acquire(blocking=False)
    with pytest.raises(ObjectBusy):
        upsert_attest_order(services, ids.order, attest=True)

    elsewhere.release()
    upsert_attest_order(services, ids.order, attest=True)

    assert option_key(fake_lime.obj("order", ids.order)["orderstatus"]) == "attested"


def test_a_run_that_fails_does_not_leave_its_object_locked(services: Services, fake_lime: FakeLime,
                                                           fake_billecta: FakeBillecta,
                                                           fake_redis: QuickLockRedis) -> None:
    ids = add_order(fake_lime, fake_billecta)
    fake_billecta.fail("create_invoice", FakeBillecta.refusal("InvoiceDate must not be in the past"))

    with pytest.raises(PermanentError):
        upsert_attest_order(services, ids.order, attest=True)

    assert fake_redis.get(f"lock:order:{ids.order}") is None
    with object_lock(fake_redis, f"order:{ids.order}", wait_s=0):  # the next run gets it at once
        pass
