"""Waiting on the running stack, shared by the end-to-end tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from devstack.stack import Stack

BUSY_STATUSES = ("received", "queued", "processing", "failed")


def wait_for(probe: Callable[[], Any], what: str, timeout_s: float = 60.0, *, interval_s: float = 0.2,
             tolerate: tuple[type[BaseException], ...] = ()) -> Any:
    """The first truthy value ``probe`` returns; ``tolerate`` lists errors that count as "not yet" (a
    process of the stack that a test restarts)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = probe()
        except tolerate:
            value = None
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out waiting for {what}")


def inbox_counts(stack: Stack) -> dict[str, int]:
    stats = requests.get(f"{stack.gateway_url}{stack.config.prefix}/operator/inbox-stats",
                         headers={"X-API-Key": stack.config.operator_key}, timeout=10).json()
    return dict(stats.get("counts", stats))


def settle(stack: Stack, timeout_s: float = 90.0, *, sender_wait_s: float = 30,
           tolerate: tuple[type[BaseException], ...] = ()) -> dict[str, int]:
    """Wait until the Billecta sandbox has delivered everything and the inbox has nothing left to do;
    the inbox counts by status."""
    requests.post(f"{stack.billecta_admin_url}/webhooks/wait-idle", params={"timeout": sender_wait_s},
                  timeout=sender_wait_s + 10)

    last: dict[str, int] = {}

    def idle() -> dict[str, int] | None:
        counts = inbox_counts(stack)
        last.clear()
        last.update(counts)
        return counts if sum(counts.get(s, 0) for s in BUSY_STATUSES) == 0 else None

    try:
        return wait_for(idle, "the inbox to settle", timeout_s, tolerate=tolerate)  # type: ignore[no-any-return]
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the inbox by status at the end: {last or 'never read'}") from None
