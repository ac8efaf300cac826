"""Key checks: every key of a scope works, other schemes are not keys, scopes do not overlap."""

from __future__ import annotations

from typing import Any

import pytest

URL = "/limepkg-billecta-integration/billecta-webhook-receiver"
EVENT = {"WebhookTriggerType": "InvoiceActionAttested", "ActionPublicId": "a1"}


@pytest.fixture
def client(make_settings: Any, make_app: Any) -> Any:
    settings = make_settings(GATEWAY_API_KEYS_WEBHOOK="first-webhook-key, second-webhook-key")
    return make_app(settings).test_client()


@pytest.mark.parametrize("key", ["first-webhook-key", "second-webhook-key"])
def test_every_key_of_the_scope_is_accepted(client: Any, key: str) -> None:
    assert client.post(URL, json=EVENT, headers={"X-API-Key": key}).status_code == 200
    assert client.post(URL, json=EVENT, headers={"Authorization": f"bearer {key}"}).status_code == 200


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Authorization": "Basic Zmlyc3Qtd2ViaG9vay1rZXk="}, "missing_api_key"),
        ({"Authorization": "Bearer "}, "missing_api_key"),
        ({"X-API-Key": "  "}, "missing_api_key"),
        ({"X-API-Key": "first-webhook-ke"}, "invalid_api_key"),  # a prefix of a real key
        ({"X-API-Key": "first-webhook-key-and-more"}, "invalid_api_key"),
        ({"X-API-Key": "dev-webhook-key"}, "invalid_api_key"),  # the default key is no longer configured
    ],
)
def test_non_keys_are_401(client: Any, headers: dict[str, str], reason: str) -> None:
    resp = client.post(URL, json=EVENT, headers=headers)
    assert resp.status_code == 401
    assert resp.get_json()["reason"] == reason


def test_header_key_wins_over_bearer(client: Any) -> None:
    headers = {"X-API-Key": "dev-operator-key", "Authorization": "Bearer first-webhook-key"}
    resp = client.post(URL, json=EVENT, headers=headers)
    assert resp.status_code == 403
    assert resp.get_json()["reason"] == "wrong_scope"
