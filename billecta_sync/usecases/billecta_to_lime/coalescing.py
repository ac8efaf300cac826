"""Several Billecta events about one invoice within a moment cost one refresh of it, never a stale one.

Billecta sends a burst when an invoice moves (attested, then sent a moment later; a payment with the state
change it causes). Every event asks for the same thing — read the invoice from Billecta, write what
changed into Lime — so one refresh that *starts reading after* the events arrived covers them all.

Each event bumps the invoice's generation in Redis (with the extras it needs, such as its payments), then
tries the invoice's lock without waiting. The holder waits ``coalesce_window_s`` for the rest of the burst,
notes the generation, refreshes, releases, and looks again: a generation that moved meanwhile means an
event came after its read began, and it refreshes again (or leaves it to whoever holds the lock by then).
An event that finds the lock taken therefore always has a refresh after it: the holder's check comes after
its release, and the event bumped the generation before trying the lock. Extras are cleared only once a
refresh that included them has succeeded, so a failed refresh leaves them for its retry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from billecta_sync.container import Services

_PENDING = "invoice-refresh:{}"
_PENDING_TTL_S = 86400
# Bump the generation and mark each extra with it, as one step, so a holder never sees one without the other.
_BUMP = """
local gen = redis.call('HINCRBY', KEYS[1], 'gen', 1)
for i, extra in ipairs(ARGV) do if i > 1 then redis.call('HSET', KEYS[1], extra, gen) end end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return gen
"""
# Clear the extras a successful refresh included: those marked no later than the generation it read.
_CLEAR = """
for i, extra in ipairs(ARGV) do
  if i > 1 then
    local at = redis.call('HGET', KEYS[1], extra)
    if at and tonumber(at) <= tonumber(ARGV[1]) then redis.call('HDEL', KEYS[1], extra) end
  end
end
return 1
"""

Refresh = Callable[[frozenset[str]], str]


def refresh_coalesced(services: Services, action_public_id: str, refresh: Refresh,
                      extras: Iterable[str] = ()) -> str:
    """Run ``refresh(extras of every event it covers)`` for this event, or leave it to the running one."""
    client = services.redis
    key = _PENDING.format(action_public_id)
    client.eval(_BUMP, 1, key, _PENDING_TTL_S, *sorted(set(extras)))
    lock = client.lock(f"lock:invoice:{action_public_id}", timeout=services.settings.worker.lock_timeout_s)
    outcomes: list[str] = []
    while lock.acquire(blocking=False):
        try:
            seen = _refresh_until_quiet(services, key, refresh, outcomes)
        finally:
            _release(lock)
        if _generation(services, key) == seen:
            break  # nothing arrived after the last read began; an event that did will see our release
    if not outcomes:
        return "covered by the refresh of this invoice already running"
    return outcomes[-1] if len(outcomes) == 1 else f"{outcomes[-1]} (refreshed {len(outcomes)} times)"


def _refresh_until_quiet(services: Services, key: str, refresh: Refresh, outcomes: list[str]) -> int:
    client = services.redis
    window = services.settings.worker.coalesce_window_s
    while True:
        if window > 0:
            time.sleep(window)  # the rest of the burst arrives meanwhile and is covered by this read
        pending = {k.decode() if isinstance(k, bytes) else str(k): int(v) for k, v in client.hgetall(key).items()}
        seen = pending.pop("gen", 0)
        outcomes.append(refresh(frozenset(pending)))
        if pending:
            client.eval(_CLEAR, 1, key, seen, *sorted(pending))
        if _generation(services, key) == seen:
            return seen


def _generation(services: Services, key: str) -> int:
    raw = services.redis.hget(key, "gen")
    return int(raw) if raw is not None else 0


def _release(lock: object) -> None:
    import redis

    try:
        lock.release()  # type: ignore[attr-defined]
    except redis.exceptions.LockError:
        pass  # expired under a very slow refresh: the work is idempotent, nothing to undo
