"""The Billecta route table: well-formed, unique, and naming view models that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from billecta_sync.billecta.routes import (
    ROUTE_STATUSES,
    ROUTES,
    Route,
    get_route,
    routes_markdown,
    unverified_routes,
)

SCHEMAS = Path(__file__).resolve().parents[2] / "sandbox" / "billecta" / "schemas"


def test_schema_folder_is_there() -> None:
    assert (SCHEMAS / "CreatedView.json").is_file(), f"no schemas in {SCHEMAS}"


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_route_is_well_formed(route: Route) -> None:
    assert route.method in {"GET", "POST", "PUT", "DELETE", "PATCH"}
    assert route.path_template.startswith("/")
    assert not route.path_template.startswith("/v1/"), "the base URL already ends in /v1"
    assert "//" not in route.path_template
    assert route.status in ROUTE_STATUSES
    assert route.note.strip(), "every route says where its path comes from"
    for param in route.path_params:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", param), f"placeholder {param!r} is not snake_case"
    for view in (route.request_view, route.response_view):
        if view is not None:
            assert (SCHEMAS / f"{view}.json").is_file(), f"{route.name}: no schema for {view}"
    if route.method in {"GET", "DELETE"}:
        assert route.request_view is None, "GET and DELETE carry no body"


def test_names_unique() -> None:
    names = [r.name for r in ROUTES]
    assert len(names) == len(set(names))


def test_method_and_path_unique_except_declared_aliases() -> None:
    seen: dict[tuple[str, str], str] = {}
    for r in ROUTES:
        key = (r.method, r.path_template)
        if key in seen:
            # Only write-off shares its endpoint, on purpose; its note must say so.
            assert "Same endpoint as" in r.note, f"{r.name} duplicates {seen[key]}"
        else:
            seen[key] = r.name


def test_unguessed_status_matches_notes_for_key_routes() -> None:
    assert get_route("invoice.attest").status == "verified"
    assert get_route("invoice.attest").path_template == "/invoice/attest/{action_public_id}"
    assert get_route("debtor.by_external_id").path_template == "/debtors/debtorbyexternalid/{creditor_public_id}"
    assert get_route("invoice.delete").status == "unverified"
    assert get_route("debtcollection.bailiff").path_template == "/debtcollection/SendToBailiff/{action_public_id}"
    assert get_route("debtcollection.bailiff").status == "partly"
    assert get_route("debtor.anonymize").status == "unverified"


def test_every_operation_of_the_brief_is_present() -> None:
    wanted = {
        "creditor.get", "creditor.update", "creditor.create", "creditor.default_action_config.get",
        "creditor.default_action_config.update", "debtor.create", "debtor.update", "debtor.get",
        "debtor.by_external_id", "debtor.delete", "debtor.events", "debtor.anonymize", "product.create",
        "product.update", "product.get", "product.by_external_id", "product.delete", "invoice.create",
        "invoice.update", "invoice.get", "invoice.attest", "invoice.delete", "invoice.open_by_creditor",
        "invoice.open_by_debtor", "invoice.closed", "invoice.credit", "invoice.cancel", "invoice.pause",
        "invoice.resume", "invoice.dispute", "invoice.undispute", "invoice.postpone", "files.file.get",
        "invoice.register_payment", "invoice.write_off", "invoice.send_reminder", "invoice.send_to_debt_collection",
        "invoice.events", "debtcollection.get", "debtcollection.cancel", "debtcollection.postpone",
        "debtcollection.long_term_surveillance", "debtcollection.bailiff", "debtcollection.assistance_with_bailiff",
        "payments.unhandled.list", "payments.unhandled.get", "payments.unhandled.delete", "payments.match",
        "swish.create", "swish.status", "webhooks.retrigger_failed", "payments.incoming",
    }
    assert wanted <= {r.name for r in ROUTES}


def test_unverified_routes() -> None:
    names = {r.name for r in unverified_routes()}
    assert "invoice.pause" in names and "invoice.cancel" in names
    assert "invoice.attest" not in names
    strict = {r.name for r in unverified_routes(include_partly=False)}
    assert strict == {r.name for r in ROUTES if r.status == "unverified"}
    assert "invoice.pause" not in strict and "invoice.cancel" in strict


def test_render_path() -> None:
    route = get_route("debtor.get")
    assert route.path_params == ("debtor_public_id",)
    assert route.render_path({"debtor_public_id": "a b/c"}) == "/debtors/debtor/a%20b%2Fc"
    with pytest.raises(ValueError, match="needs path parameter"):
        route.render_path({})
    with pytest.raises(ValueError, match="has no path parameter"):
        route.render_path({"debtor_public_id": "x", "other": "y"})


def test_markdown_has_one_row_per_route() -> None:
    text = routes_markdown()
    lines = text.strip().splitlines()
    assert lines[0].startswith("| Operation | Method | Path | Status |")
    assert len(lines) == 2 + len(ROUTES)
    assert "| `invoice.attest` | PUT | `/invoice/attest/{action_public_id}` | verified |" in text
    # Each row has exactly the 7 columns (pipes inside notes are escaped).
    for line in lines[2:]:
        assert len(re.findall(r"(?<!\\)\|", line)) == 8, line
