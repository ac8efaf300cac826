"""Several Billecta events about one invoice within a moment cost one refresh of it, never a stale one.

Billecta sends a burst when an invoice moves (attested, then sent a moment later; a payment with the state
change it causes). Every event asks for the same thing — read the invoice from Billecta, write what
changed into Lime — so one refresh that *starts reading after* the events arrived covers them all.

Each event bumps the invoice's generation in Redis (with the extras it needs, such as its payments) and
takes the invoice's lock, waiting for it. The first holder waits ``coalesce_window_s`` for the rest of the
burst, notes the generation, refreshes, records that generation as done — only once the refresh has
succeeded — and refreshes again while events came in during its read. An event that gets the lock after
a done generation at or past its own returns at once: a refresh that read after it arrived has been
written. Nothing else covers an event: a holder that is not a refresh (a money operation on the
invoice), a refresh that failed, or one whose holder died leave the next event to refresh itself. Extras
are cleared only by a refresh that included them and succeeded, so a failed refresh leaves them for its
retry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from billecta_sync import deadlines
from billecta_sync.container import Services
from billecta_sync.locks import object_lock

_PENDING = "invoice-refresh:{}"
_PENDING_TTL_S = 86400
_DONE = "done"  # the generation the last successful refresh read at
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
    """Run ``refresh(extras of every event it covers)`` for this event, unless a refresh that began reading
    after this event arrived has already succeeded."""
    client = services.redis
    key = _PENDING.format(action_public_id)
    mine = int(client.eval(_BUMP, 1, key, _PENDING_TTL_S, *sorted(set(extras))))
    timeout = services.settings.worker.lock_timeout_s
    # Wait for whoever holds the invoice: a refresh covering this event, any other use-case of the invoice
    # (which covers nothing), or a holder that died (its lock expires). Only a *succeeded* refresh that
    # read at or after this event's generation lets it go without a refresh of its own.
    outcomes: list[str] = []
    with object_lock(client, f"invoice:{action_public_id}", timeout_s=timeout, wait_s=timeout + 5):
        done = client.hget(key, _DONE)
        if done is not None and int(done) >= mine:
            return "covered by a refresh of this invoice that read after this event arrived"
        _refresh_until_quiet(services, key, refresh, outcomes)
    return outcomes[-1] if len(outcomes) == 1 else f"{outcomes[-1]} (refreshed {len(outcomes)} times)"


def _refresh_until_quiet(services: Services, key: str, refresh: Refresh, outcomes: list[str]) -> None:
    client = services.redis
    window = services.settings.worker.coalesce_window_s
    while True:
        if window > 0:
            # the rest of the burst arrives meanwhile and is covered by this read (never past the soft limit)
            time.sleep(deadlines.bounded(window))
        pending = {k.decode() if isinstance(k, bytes) else str(k): int(v) for k, v in client.hgetall(key).items()}
        seen = pending.pop("gen", 0)
        pending.pop(_DONE, None)
        outcomes.append(refresh(frozenset(pending)))
        client.hset(key, _DONE, seen)  # only after success: a failed refresh covers no event
        if pending:
            client.eval(_CLEAR, 1, key, seen, *sorted(pending))
        if _generation(services, key) == seen:
            return


def _generation(services: Services, key: str) -> int:
    raw = services.redis.hget(key, "gen")
    return int(raw) if raw is not None else 0

