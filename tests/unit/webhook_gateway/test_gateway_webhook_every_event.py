"""Every supported Billecta event at the receiver: without the id its handler needs it is refused with the
id named; with it (flat or nested body) it is stored and queued for the webhook worker."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from billecta_sync import catalogue
from billecta_sync.inbound.billecta_events import DEFAULT_REQUIRED_ID, REQUIRED_ID, SUPPORTED_EVENTS

URL = "/limepkg-billecta-integration/billecta-webhook-receiver"
WEBHOOK = {"X-API-Key": "dev-webhook-key"}


@pytest.mark.parametrize("event", sorted(SUPPORTED_EVENTS))
def test_event_without_its_id_is_refused_naming_it(client: FlaskClient, publisher: Any, event: str) -> None:
    resp = client.post(URL, json={"WebhookTriggerType": event, "CreditorPublicId": "cr-1"}, headers=WEBHOOK)
    assert resp.status_code == 400
    assert resp.get_json()["missing"] == list(REQUIRED_ID.get(event, DEFAULT_REQUIRED_ID))
    assert publisher.published == []


@pytest.mark.parametrize("event", sorted(SUPPORTED_EVENTS))
@pytest.mark.parametrize("nested", [False, True])
def test_event_with_its_id_is_queued(client: FlaskClient, publisher: Any, event: str, nested: bool) -> None:
    ids = {REQUIRED_ID.get(event, DEFAULT_REQUIRED_ID)[0]: "id-42", "CreditorPublicId": "cr-1"}
    body = {"Type": event, "Data": ids} if nested else {"WebhookTriggerType": event, **ids}
    resp = client.post(URL, json=body, headers=WEBHOOK)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["status"] == "queued"
    assert [p.task for p in publisher.published] == [catalogue.PROCESS_BILLECTA_WEBHOOK.name]
