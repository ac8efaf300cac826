"""Autogiro: a debtor's approval changing and a withdrawal on an invoice failing or being renewed, made to
happen through ``/_sandbox`` (Billecta reports both only by webhook)."""

from __future__ import annotations

from sandbox.billecta.extension import Host
from sandbox.billecta.routing import json_action
from sandbox.billecta.state.autogiro import Autogiro
from sandbox.billecta.state.invoices import Invoices
from sandbox.billecta.state.masterdata import Debtors


def register(host: Host) -> None:
    autogiro = Autogiro(host.store, host.store.get(Invoices), host.store.get(Debtors))  # keeps no state
    host.add_admin("/_sandbox/invoices/<action_id>/autogiro-withdrawal", "autogiro_withdrawal",
                   json_action(autogiro.withdrawal))
    host.add_admin("/_sandbox/debtors/<debtor_id>/autogiro", "debtor_autogiro", json_action(autogiro.approval))
