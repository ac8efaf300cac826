"""docs/endpoints.md must list exactly the gateway's endpoints, as the OpenAPI document describes them."""

from __future__ import annotations

from pathlib import Path

from webhook_gateway.endpoints_doc import endpoints_markdown

ROOT = Path(__file__).resolve().parents[3]


def test_endpoint_document_equals_the_routes() -> None:
    assert (ROOT / "docs" / "endpoints.md").read_text(encoding="utf-8") == endpoints_markdown(), (
        "docs/endpoints.md is stale: run `billecta-sync docs endpoints --write docs/endpoints.md`"
    )


def test_every_seed_command_is_documented_with_its_scope_and_body() -> None:
    text = endpoints_markdown()
    for path in ("upsert-orders-in-billecta", "attest-orders-in-billecta", "upsert-debtors-in-billecta",
                 "anonymize-debtors-in-billecta", "upsert-articles-in-billecta", "delete-articles-in-billecta",
                 "credit-invoices-in-billecta"):
        [line] = [row for row in text.splitlines() if f"/task/{path}`" in row]
        assert "| commands | `integration_monitor_batch_title`, `query_filter`* |" in line
    [creditor] = [row for row in text.splitlines() if "/task/update-creditor-in-billecta`" in row]
    assert "`creditor_id`*" in creditor
    [lime] = [row for row in text.splitlines() if "/lime-webhook-receiver`" in row]
    assert "401 missing or wrong signature" in lime
