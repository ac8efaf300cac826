"""The extension API of the Billecta sandbox: what a domain gets to register its piece of state and its routes.

An extension is a function ``register(host)`` (see ``sandbox/billecta/extensions/``). It adds its state part
to ``host.store`` (looking up, with ``host.store.get``, the parts it builds on) and hands its routes to
``host.add_routes`` (``/v1``, dispatched and validated generically) and ``host.add_admin`` (``/_sandbox``,
plain Flask views). ``create_app`` calls the extensions once, in a fixed order, on a fresh sandbox.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from flask import Response

from sandbox.billecta.config import BillectaSandboxConfig
from sandbox.billecta.outbox import WebhookOutbox
from sandbox.billecta.requestlog import RequestLog
from sandbox.billecta.routing import Route
from sandbox.billecta.state.core import Store
from sandbox.common import FaultInjector, WebhookSender


class Host(Protocol):
    """What the sandbox offers an extension while it registers."""

    config: BillectaSandboxConfig  # live: ``POST /_sandbox/config`` changes it in place
    store: Store
    sender: WebhookSender
    outbox: WebhookOutbox
    faults: FaultInjector
    requests: RequestLog

    def add_routes(self, *routes: Route) -> None:
        """Answer these ``/v1`` routes (authenticated, logged, bodies and answers checked)."""

    def add_admin(
        self, rule: str, name: str, view: Callable[..., Response], methods: Sequence[str] = ("POST",)
    ) -> None:
        """Answer ``rule`` (under ``/_sandbox``, no authentication) with a plain Flask view."""

    def routes(self) -> list[Route]:
        """The ``/v1`` routes added so far, in order."""


Extension = Callable[[Host], Any]
