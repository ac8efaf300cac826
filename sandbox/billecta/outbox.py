"""Outbound webhooks of the Billecta sandbox: the bodies it sends for the triggers the state raises, and the
retrigger of failed deliveries.

What Billecta documents (docs: billecta-api-followup.md §6.2) is, per trigger, the type of one data object
and an optional second value: an InvoiceActionView for the invoice triggers, an IncomingPaymentView for
``InvoicePaymentReceived``, ``AmountCreditedOnInvoice`` and ``AmountWrittenOffOnInvoice``, the ActionPublicId
and then the DebtorPublicId for ``InvoiceActionDeleted``. What the envelope's fields are called, and the data
of the other triggers, are not documented. So the sandbox can send three body styles, and a receiver should
cope with all of them:

* ``flat`` (default)::

    {"WebhookTriggerType": "InvoiceActionAttested", "CreditorPublicId": "...",
     "ActionPublicId": "...", "Created": "2024-05-01T12:00:00+02:00", "EventId": "<uuid>"}

  with ``DebtorPublicId`` / ``ProductPublicId`` instead of ``ActionPublicId`` for those entities.
* ``nested``::

    {"Type": "InvoiceActionAttested", "Timestamp": "...", "EventId": "<uuid>",
     "Data": {"CreditorPublicId": "...", "ActionPublicId": "..."}}

* ``documented``: the three slots of Billecta's table and nothing invented beside them::

    {"WebhookTriggerType": "InvoiceActionAttested", "Data": {<InvoiceActionView>}, "SecondValue": null}

  The key names are ours (the trigger's enum is called WebhookTriggerType in the Rust crate); there is no
  event id or time, because Billecta documents none. ``Data`` is built when the trigger is raised, by the
  ``DataObject`` a domain registered for it (``add_data_object``), and checked against its view model
  before sending (when ``validate_responses`` is on): a body that breaks the contract is not sent, but
  logged and listed in ``problems`` (``GET /_sandbox/webhooks``). A data object marked ``documented=False``
  is the sandbox's analogy (a DebtorView for DebtorUpdated, say), not Billecta's word; a trigger with no data
  object sends its ids as ``Data``.

A re-sent delivery carries the same body, hence the same EventId. Each delivery is a POST with
``Content-Type: application/json`` plus the configured static headers (Billecta's only documented
receiver-authentication mechanism). Only the triggers ticked in the configuration are sent, as in
Billecta's portal.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.billecta import contract
from sandbox.billecta.config import BillectaSandboxConfig
from sandbox.billecta.state.core import BillectaError, iso, now
from sandbox.common import WebhookSender

log = logging.getLogger(__name__)

RETRIGGER_WINDOW_S = 48 * 3600
MAX_PROBLEMS = 100
# Build(ids, context) -> (Data, SecondValue)
Build = Callable[[Mapping[str, str], Mapping[str, Any]], tuple[Any, Any]]


@dataclass(frozen=True)
class DataObject:
    """How the ``documented`` style fills ``Data`` and ``SecondValue`` for a trigger."""

    view: str | None  # the view model Data must match; None: Data is a plain string (an id)
    build: Build
    documented: bool  # True: the type is in Billecta's webhook table; False: the sandbox's analogy
    item_of_list: bool = False  # ``view`` is a list view and Data is one of its items (IncomingPaymentsView)

    def problems(self, data: Any) -> list[str]:
        if self.view is None:
            return [] if isinstance(data, str) else [f"$: expected a string, got {type(data).__name__}"]
        return contract.validate(self.view, [data] if self.item_of_list else data)

    def describe(self) -> dict[str, Any]:
        item = f"item of {self.view}" if self.item_of_list else self.view
        return {"data": item or "string", "documented": self.documented}


class WebhookOutbox:
    """Turns raised triggers into deliveries of ``sender``; settings are read from ``config`` at each send."""

    def __init__(self, config: BillectaSandboxConfig, sender: WebhookSender) -> None:
        self.config = config
        self.sender = sender
        self.retriggered: set[int] = set()
        self.data_objects: dict[str, DataObject] = {}
        self.problems: list[dict[str, Any]] = []
        # delivery id -> creditor: a documented body may not name its creditor (a delete's Data is an id).
        self._creditor_of: dict[int, str] = {}

    def clear(self) -> None:
        self.retriggered = set()
        self.problems = []
        self._creditor_of = {}

    def add_data_object(self, triggers: Iterable[str], data_object: DataObject) -> None:
        """Use ``data_object`` for the documented body of each of ``triggers`` (registered once each)."""
        for trigger in triggers:
            if trigger in self.data_objects:
                raise ValueError(f"trigger {trigger!r} already has a data object")
            self.data_objects[trigger] = data_object

    def send(self, trigger: str, ids: dict[str, str], context: Mapping[str, Any] | None = None) -> None:
        config = self.config
        url = config.webhook_url
        if not url or trigger not in config.webhook_triggers:
            return
        payload: dict[str, Any] | None
        if config.webhook_payload_style == "documented":
            payload = self._documented(trigger, ids, context or {})
            if payload is None:
                return
        elif config.webhook_payload_style == "nested":
            payload = {"Type": trigger, "Timestamp": iso(now()), "EventId": str(uuid.uuid4()), "Data": dict(ids)}
        else:
            payload = {"WebhookTriggerType": trigger, **ids, "Created": iso(now()), "EventId": str(uuid.uuid4())}
        headers = {"Content-Type": "application/json", **config.webhook_headers}
        delivery = self.sender.send(url, json.dumps(payload).encode("utf-8"), headers, trigger)
        self._remember_creditor(delivery.id, ids.get("CreditorPublicId"))

    def _documented(self, trigger: str, ids: Mapping[str, str], context: Mapping[str, Any]) -> dict[str, Any] | None:
        """The documented body, or None when its data object could not be built or breaks the contract."""
        data_object = self.data_objects.get(trigger)
        if data_object is None:
            return {"WebhookTriggerType": trigger, "Data": dict(ids), "SecondValue": None}
        try:
            data, second = data_object.build(ids, context)
        except BillectaError as exc:
            # The entity is gone or never was (a test raising a trigger by hand): its ids are all there is.
            log.warning("webhook %s: no data object (%s); sending its ids", trigger, exc.message)
            return {"WebhookTriggerType": trigger, "Data": dict(ids), "SecondValue": None}
        except Exception as exc:
            self._problem(trigger, data_object, [f"building the data object failed: {type(exc).__name__}: {exc}"])
            return None
        if self.config.validate_responses:
            problems = data_object.problems(data)
            if problems:
                self._problem(trigger, data_object, problems)
                return None
        return {"WebhookTriggerType": trigger, "Data": data, "SecondValue": second}

    def _problem(self, trigger: str, data_object: DataObject, problems: list[str]) -> None:
        log.error("sandbox webhook %s breaks %s; not sent: %s", trigger, data_object.view, problems[:5])
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append({"trigger": trigger, "view": data_object.view, "problems": problems[:10]})

    def _remember_creditor(self, delivery_id: int, creditor_id: str | None) -> None:
        if creditor_id is None:
            return
        if len(self._creditor_of) > 2 * 50_000:
            # The sender forgets old deliveries; forget their creditors as well.
            live = {d.id for d in self.sender.deliveries()}
            self._creditor_of = {k: v for k, v in self._creditor_of.items() if k in live}
        self._creditor_of[delivery_id] = creditor_id

    def _creditor(self, delivery: Any) -> str | None:
        known = self._creditor_of.get(delivery.id)
        if known is not None:
            return known
        try:
            payload = json.loads(delivery.body)
        except ValueError:
            return None
        ids = payload.get("Data") if isinstance(payload.get("Data"), dict) else payload
        return ids.get("CreditorPublicId") if isinstance(ids, dict) else None

    def retrigger_failed(self, creditor_id: str) -> int:
        """Send again every failed delivery of the last 48 hours that concerns this creditor; returns how many."""
        since = time.time() - RETRIGGER_WINDOW_S
        count = 0
        for delivery in self.sender.deliveries(status="failed", since=since):
            if self._creditor(delivery) != creditor_id or delivery.id in self.retriggered:
                continue
            # A new delivery to the URL configured now (it may have been fixed since), sent once.
            self.retriggered.add(delivery.id)
            again = self.sender.send(self.config.webhook_url or delivery.url, delivery.body, delivery.headers,
                                     delivery.event)
            self._remember_creditor(again.id, creditor_id)
            count += 1
        return count

    def describe(self) -> dict[str, dict[str, Any]]:
        """Trigger -> what its documented Data is (``GET /_sandbox/webhooks/data-objects``)."""
        return {trigger: d.describe() for trigger, d in sorted(self.data_objects.items())}
