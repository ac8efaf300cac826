"""Pieces behind the Billecta sandbox's money routes: their provenance (the client's route table's), the
Swedish mobile number rule of Swish, the payment means every creditor starts with, and the new settings."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from billecta_sync.billecta.routes import ROUTES
from sandbox.billecta.__main__ import build_parser, config_from_args
from sandbox.billecta.app import BillectaSandbox, BillectaSandboxConfig
from sandbox.billecta.config import check_config, checked_update
from sandbox.billecta.state.core import BillectaError
from sandbox.billecta.state.masterdata import Creditors
from sandbox.billecta.state.money import DEFAULT_PAYMENT_MEANS, PaymentMeans, swedish_mobile

# Sandbox route -> the client's route it stands in for.
MONEY_ROUTES = {
    "register_invoice_payment": "invoice.register_payment",
    "delete_unhandled_payment": "payments.unhandled.delete",
    "match_payments": "payments.match",
    "create_swish_payment": "swish.create",
    "swish_payment_status": "swish.status",
    "incoming_payments": "payments.incoming",
    "get_unhandled_payment": "payments.unhandled.get",
    "list_unhandled_payments": "payments.unhandled.list",
}
MARKER = {"verified": "V", "partly": "P", "unverified": "U"}


@pytest.fixture
def sandbox() -> Iterator[BillectaSandbox]:
    fake = BillectaSandbox(BillectaSandboxConfig(auto_send_delay_s=-1))
    yield fake
    fake.sender.clear()


def _shape(path: str) -> str:
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


def test_money_routes_have_the_clients_paths_and_provenance(sandbox: BillectaSandbox) -> None:
    served = {r.name: r for r in sandbox.routes()}
    client = {r.name: r for r in ROUTES}
    for name, client_name in MONEY_ROUTES.items():
        route, theirs = served[name], client[client_name]
        assert (route.method, _shape(route.rule)) == (theirs.method, _shape("/v1" + theirs.path_template)), name
        assert route.status == MARKER[theirs.status], name
        assert route.request_view == theirs.request_view and route.response_view == theirs.response_view, name
        assert not route.listed, name  # the default listing stays frozen
        assert client_name in route.client_names, name  # so a knob may name the route as the client does
    write_off = client["invoice.write_off"]
    assert (write_off.method, "/v1" + write_off.path_template) == ("POST", served["register_invoice_payment"].rule)
    for name in ("register_invoice_payment", "delete_unhandled_payment", "swish_payment_status"):
        assert MONEY_ROUTES[name] in served[name].source and "partly" in served[name].source
    means = served["list_payment_means"]
    assert (means.method, means.rule, means.status) == ("GET", "/v1/accounting/paymentmeans/<creditor_id>", "P")
    for theirs in (r for r in ROUTES if (r.method, _shape("/v1" + r.path_template)) == ("GET", _shape(means.rule))):
        assert MARKER[theirs.status] == means.status and theirs.name in means.client_names


@pytest.mark.parametrize(("phone", "normalised"), [
    ("0701234567", "46701234567"), ("070-123 45 67", "46701234567"), ("+46 73 123 45 67", "46731234567"),
    ("0046761234567", "46761234567"), ("46791234567", "46791234567"), ("072 123 45 67", "46721234567"),
    ("08-123 456 78", None), ("0741234567", None), ("070123456", None), ("+4570123456", None), ("", None),
    ("telefon", None),
])
def test_swish_takes_only_swedish_mobile_numbers(phone: str, normalised: str | None) -> None:
    assert swedish_mobile(phone) == normalised


def test_each_creditor_starts_with_the_default_payment_means(sandbox: BillectaSandbox) -> None:
    creditors = sandbox.store.get(Creditors)
    means = sandbox.store.get(PaymentMeans)
    creditor = creditors.create({"Name": "Acme AB"})
    assert [m["PaymentCode"] for m in means.list(creditor)] == list(DEFAULT_PAYMENT_MEANS)
    assert means.has(creditor, "AG") and not means.has(creditor, "KLARNA")
    means.remove(creditor, "AG")
    assert not means.has(creditor, "AG")
    with pytest.raises(BillectaError) as refused:
        means.add({"CreditorPublicId": creditor, "PaymentCode": "X", "BookkeepingAccount": "19"})
    assert refused.value.status == 400
    with pytest.raises(BillectaError):
        means.list("00000000-0000-0000-0000-000000000000")
    sandbox.store.reset()
    assert means.rows == {}


def test_money_settings_from_the_environment_and_their_checks() -> None:
    config = BillectaSandboxConfig.from_env({
        "BILLECTA_SANDBOX_SWISH_DELAY_S": "0.5", "BILLECTA_SANDBOX_SWISH_OUTCOME": "Declined",
        "BILLECTA_SANDBOX_STALL_AFTER_ROUTES": "register_invoice_payment, match_payments",
        "BILLECTA_SANDBOX_STALL_AFTER_S": "12",
    })
    assert (config.swish_delay_s, config.swish_outcome, config.stall_after_s) == (0.5, "Declined", 12.0)
    assert config.stall_after_routes == ["register_invoice_payment", "match_payments"]
    defaults = BillectaSandboxConfig()
    assert (defaults.swish_delay_s, defaults.swish_outcome, defaults.stall_after_routes) == (2.0, "Paid", [])
    with pytest.raises(ValueError, match="swish_outcome"):
        BillectaSandboxConfig.from_env({"BILLECTA_SANDBOX_SWISH_OUTCOME": "Maybe"})
    with pytest.raises(ValueError, match="stall_after_routes"):
        check_config(BillectaSandboxConfig(stall_after_routes="match_payments"))  # type: ignore[arg-type]
    _knobs, other = checked_update(defaults, {"swish_delay_s": "1", "stall_after_s": 3})
    assert other == {"swish_delay_s": 1.0, "stall_after_s": 3.0}


def test_money_settings_from_the_command_line() -> None:
    args = build_parser().parse_args(["--swish-delay-s", "-1", "--swish-outcome", "Error",
                                      "--stall-after-routes", "match_payments,create_swish_payment",
                                      "--stall-after-s", "4"])
    config = config_from_args(args)
    assert (config.swish_delay_s, config.swish_outcome, config.stall_after_s) == (-1.0, "Error", 4.0)
    assert config.stall_after_routes == ["match_payments", "create_swish_payment"]
