"""Lime webhooks: the signature over the exact bytes, and which bodies are refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from billecta_sync.inbound.lime_events import InvalidLimeWebhook, parse_lime_event, sign, signature_ok

SECRET = "s3cret"


def event(name: str, object_id: int, values: dict[str, Any], original: dict[str, Any] | None = None
          ) -> dict[str, Any]:
    body: dict[str, Any] = {"id": object_id, "limetype": name.split(".")[0], "values": values}
    if original is not None:
        body["original_values"] = original
    return {"event": name, "body": body}


def test_signature_is_checked_over_the_exact_bytes() -> None:
    raw = json.dumps(event("debtor.update", 1, {})).encode()
    assert signature_ok(SECRET, raw, sign(SECRET, raw))
    assert signature_ok(SECRET, raw, sign(SECRET, raw).upper().replace("SHA256=", "sha256="))
    assert not signature_ok(SECRET, raw + b" ", sign(SECRET, raw))
    assert not signature_ok(SECRET, raw, sign("other", raw))
    assert not signature_ok("", raw, sign("", raw))  # no secret configured: nothing is trusted
    assert not signature_ok(SECRET, raw, None)


@pytest.mark.parametrize("payload", [[], {"event": "debtor"}, {"event": "debtor.update"},
                                     {"event": "debtor.update", "body": {"id": "x"}}])
def test_malformed_events_are_refused(payload: Any) -> None:
    with pytest.raises(InvalidLimeWebhook):
        parse_lime_event(payload)
