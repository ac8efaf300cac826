"""A burst of events about one invoice costs one refresh, and no event is left without a refresh after it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from billecta_sync.container import Services
from billecta_sync.db import Database
from billecta_sync.locks import object_lock
from billecta_sync.usecases.billecta_to_lime.coalescing import refresh_coalesced
from tests.unit.fakes import FakeBillecta, FakeLime, QuickLockRedis, RecordingQueue, make_services, settings_for

ACTION = "inv-1"


@pytest.fixture(autouse=True)
def patient_locks(fake_redis: QuickLockRedis) -> None:
    fake_redis.lock_wait_s = 5.0  # events wait for the invoice here, as they do on a real Redis
COVERED = "covered by a refresh of this invoice that read after this event arrived"


def services_with_window(tmp_path: Path, db: Database, redis: QuickLockRedis, window_s: str) -> Services:
    return make_services(settings_for(tmp_path, WORKER_COALESCE_WINDOW_S=window_s), db, lime=FakeLime(),
                         billecta=FakeBillecta(), redis=redis, queue=RecordingQueue())


def wait_until_locked(redis: QuickLockRedis) -> None:
    deadline = time.monotonic() + 5
    while not redis.exists(f"lock:invoice:{ACTION}") and time.monotonic() < deadline:
        time.sleep(0.005)


def in_thread(results: dict[str, str], name: str, *args: object, **kwargs: object) -> threading.Thread:
    thread = threading.Thread(target=lambda: results.__setitem__(name, refresh_coalesced(*args, **kwargs)))
    thread.start()
    return thread


def test_events_arriving_while_a_refresh_waits_are_covered_by_its_one_read(tmp_path: Path, db: Database,
                                                                            fake_redis: QuickLockRedis) -> None:
    services = services_with_window(tmp_path, db, fake_redis, "0.5")
    refreshes: list[frozenset[str]] = []

    def refresh(extras: frozenset[str]) -> str:
        refreshes.append(extras)
        return f"refresh {len(refreshes)}"

    results: dict[str, str] = {}
    first = in_thread(results, "first", services, ACTION, refresh)
    wait_until_locked(fake_redis)  # the first event holds the invoice and waits for the rest of the burst
    # Two more events of the burst, one of them a payment: both arrive inside the first one's window.
    later = [in_thread(results, "payment", services, ACTION, refresh, extras={"payments"}),
             in_thread(results, "state", services, ACTION, refresh)]
    for thread in [first, *later]:
        thread.join()

    assert refreshes == [frozenset({"payments"})]  # one read, and it did what the payment event needed
    assert results == {"first": "refresh 1", "payment": COVERED, "state": COVERED}


def test_an_event_after_the_read_began_gets_a_refresh_after_it(services: Services,
                                                               fake_redis: QuickLockRedis) -> None:
    # Window 0: the holder reads at once; an event arriving during that read must not be swallowed by it.
    refreshes: list[frozenset[str]] = []
    in_read, release_read = threading.Event(), threading.Event()

    def refresh(extras: frozenset[str]) -> str:
        refreshes.append(extras)
        if len(refreshes) == 1:
            in_read.set()
            release_read.wait(5)
        return "ok"

    results: dict[str, str] = {}
    holder = in_thread(results, "holder", services, ACTION, refresh)
    in_read.wait(5)
    late = in_thread(results, "late", services, ACTION, refresh, extras={"payments"})
    time.sleep(0.1)  # the late event has bumped the generation and waits for the invoice
    release_read.set()
    holder.join()
    late.join()

    assert refreshes == [frozenset(), frozenset({"payments"})]  # the holder read again, with the payments
    assert results["late"] == COVERED


def test_a_failed_refresh_covers_nothing_and_leaves_its_extras_for_the_next(services: Services) -> None:
    def failing(_extras: frozenset[str]) -> str:
        raise ConnectionError("Lime is down")

    with pytest.raises(ConnectionError):
        refresh_coalesced(services, ACTION, failing, extras={"payments"})

    seen: list[frozenset[str]] = []
    refresh_coalesced(services, ACTION, lambda extras: seen.append(extras) or "ok")
    refresh_coalesced(services, ACTION, lambda extras: seen.append(extras) or "ok")

    # The retry (or the next event) still reads the payments; once done, they are not read again.
    assert seen == [frozenset({"payments"}), frozenset()]


def test_an_event_waiting_behind_another_use_of_the_invoice_refreshes_itself(services: Services,
                                                                             fake_redis: QuickLockRedis) -> None:
    # A money operation (or a direct sync) holds the same lock but covers no event.
    seen: list[frozenset[str]] = []
    results: dict[str, str] = {}
    with object_lock(services.redis, f"invoice:{ACTION}", timeout_s=30):
        waiting = in_thread(results, "event", services, ACTION, lambda extras: seen.append(extras) or "refreshed")
        time.sleep(0.1)
        assert seen == []  # it waits for the invoice instead of calling itself covered
    waiting.join()

    assert results == {"event": "refreshed"}
    assert seen == [frozenset()]


def test_other_invoices_are_never_coalesced_together(services: Services) -> None:
    seen: list[str] = []
    for action in ("inv-a", "inv-b", "inv-a"):
        refresh_coalesced(services, action, lambda _extras, a=action: seen.append(a) or "ok")
    assert seen == ["inv-a", "inv-b", "inv-a"]
