"""In-memory stand-ins for what the use-cases talk to, so orchestration is tested without HTTP or a broker.

* ``FakeLime``: the ``LimeClient`` methods ``LimeRepo`` calls (get, create, update, delete, query, query_ids),
  over objects kept per Lime limetype; every write is recorded.
* ``FakeBillecta``: the ``BillectaClient`` methods the use-cases call (``call(route, params, body)``,
  ``get_invoice``, ``create_debtor``...), over creditors, debtors, products and invoices kept in memory;
  every call is recorded, and any method can be told to fail.
* ``RecordingQueue``: a ``billecta_sync.queueing.TaskQueue`` that records what would be published and can
  play a broker that goes down.
* ``QuickLockRedis``: fakeredis whose locks give up waiting after a fraction of a second (the service waits
  up to 10 s for a busy object), so a test of a held lock does not sleep.

``make_services`` builds a ``billecta_sync.container.Services`` from them and a real (SQLite) ``Database``.
"""

from __future__ import annotations

import copy
import itertools
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fakeredis

from billecta_sync.billecta.errors import (
    BillectaApiBadRequestException,
    BillectaApiConnectionError,
    BillectaApiNotFoundException,
    BillectaApiRequestException,
)
from billecta_sync.container import Services
from billecta_sync.db import Database
from billecta_sync.lime.errors import LimeNotFound
from billecta_sync.mappings import DEFAULT_MODEL
from billecta_sync.settings import Settings, load_settings

__all__ = ["FakeBillecta", "FakeLime", "OrderIds", "Published", "QuickLockRedis", "RecordingQueue", "Write",
           "add_order", "make_services", "option", "settings_for"]


class _Faults:
    """Scripted failures: ``fail("get_invoice", exc)`` makes the next call of that method raise ``exc``."""

    def __init__(self) -> None:
        self._faults: dict[str, list[BaseException]] = {}

    def fail(self, method: str, exc: BaseException, *, times: int = 1) -> None:
        self._faults.setdefault(method, []).extend([exc] * times)

    def _maybe_fail(self, method: str) -> None:
        pending = self._faults.get(method)
        if pending:
            raise pending.pop(0)


# ---- Lime ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    op: str  # create | update | delete
    limetype: str
    object_id: int
    values: dict[str, Any]


def _comparable(value: Any) -> Any:
    """What a Lime filter compares: an option by its key, a relation by its id, empty text as ""."""
    if isinstance(value, Mapping):
        for key in ("key", "_id", "id"):
            if key in value:
                return _comparable(value[key])
    if value is None:
        return ""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else str(value)
    return str(value)


def _sort_key(value: Any) -> tuple[int, float, str]:
    plain = _comparable(value)
    try:
        return 0, float(plain), ""
    except (TypeError, ValueError):
        return 1, 0.0, str(plain)


def _matches(obj: Mapping[str, Any], expr: Mapping[str, Any] | None) -> bool:
    if expr is None:
        return True
    op = expr["op"]
    if op == "AND":
        return all(_matches(obj, e) for e in expr["exp"])
    if op == "OR":
        return any(_matches(obj, e) for e in expr["exp"])
    have, want = _comparable(obj.get(expr["key"])), expr["exp"]
    if op == "=":
        return bool(have == _comparable(want))
    if op == "!":
        return bool(have != _comparable(want))
    if op == "IN":
        return have in {_comparable(w) for w in want}
    raise NotImplementedError(f"FakeLime does not evaluate filter op {op!r}")


class FakeLime(_Faults):
    """Lime's REST API in memory, keyed by the (real) limetype name."""

    def __init__(self) -> None:
        super().__init__()
        self.objects: dict[str, dict[int, dict[str, Any]]] = {}
        self.writes: list[Write] = []
        self.reads: list[str] = []  # "get <limetype>" / "query <limetype>", in order
        self._next_id = 1000

    # -- seeding and reading back (not recorded as writes)
    def add(self, limetype: str, object_id: int | None = None, **values: Any) -> int:
        if object_id is None:
            self._next_id += 1
            object_id = self._next_id
        self.objects.setdefault(limetype, {})[object_id] = {**values, "_id": object_id}
        return object_id

    def obj(self, limetype: str, object_id: int) -> dict[str, Any]:
        return self.objects[limetype][object_id]

    def all(self, limetype: str) -> list[dict[str, Any]]:
        return list(self.objects.get(limetype, {}).values())

    def writes_to(self, limetype: str) -> list[Write]:
        return [w for w in self.writes if w.limetype == limetype]

    # -- the LimeClient methods LimeRepo calls
    def _stored(self, limetype: str, object_id: int) -> dict[str, Any]:
        try:
            return self.objects[limetype][int(object_id)]
        except KeyError:
            raise LimeNotFound(f"{limetype} {object_id} not found", status_code=404) from None

    def get(self, limetype: str, id: int) -> dict[str, Any]:
        self._maybe_fail("get")
        self.reads.append(f"get {limetype}")
        return copy.deepcopy(self._stored(limetype, id))

    def create(self, limetype: str, values: Mapping[str, Any]) -> dict[str, Any]:
        self._maybe_fail("create")
        object_id = self.add(limetype, **dict(values))
        self.writes.append(Write("create", limetype, object_id, dict(values)))
        return copy.deepcopy(self.obj(limetype, object_id))

    def update(self, limetype: str, id: int, values: Mapping[str, Any]) -> dict[str, Any]:
        self._maybe_fail("update")
        stored = self._stored(limetype, id)
        stored.update(values)
        self.writes.append(Write("update", limetype, int(id), dict(values)))
        return copy.deepcopy(stored)

    def delete(self, limetype: str, id: int) -> None:
        self._maybe_fail("delete")
        self._stored(limetype, id)
        del self.objects[limetype][int(id)]
        self.writes.append(Write("delete", limetype, int(id), {}))

    def query(self, limetype: str, properties: list[str] | dict[str, Any], filter: dict[str, Any] | None = None,
              order_by: list[Any] | None = None, limit: int | None = None, page_size: int = 200
              ) -> Iterator[dict[str, Any]]:
        self._maybe_fail("query")
        self.reads.append(f"query {limetype}")
        found = [o for o in self.objects.get(limetype, {}).values() if _matches(o, filter)]
        for order in reversed(order_by or [{"_id": "ASC"}]):
            ((prop, direction),) = order.items()
            found.sort(key=lambda o, p=prop: _sort_key(o.get(p)), reverse=direction == "DESC")
        for obj in found[:limit]:
            yield self._shaped(limetype, obj, properties)

    def _shaped(self, limetype: str, obj: Mapping[str, Any], properties: list[str] | Mapping[str, Any]
                ) -> dict[str, Any]:
        """The object as a query answers it: a nested relation (``{"prop": {...}}``) holds the related object."""
        shaped: dict[str, Any] = {"_id": obj.get("_id")}
        for prop in properties:
            sub = properties[prop] if isinstance(properties, Mapping) else ""
            if not isinstance(sub, Mapping):
                shaped[prop] = copy.deepcopy(obj.get(prop))
                continue
            # The fake's limetypes are the default model's: the relation's target comes from there.
            target = DEFAULT_MODEL[limetype][prop].removeprefix("->")
            related_id = _comparable(obj.get(prop))
            related = self.objects.get(target, {}).get(int(related_id)) if related_id else None
            shaped[prop] = self._shaped(target, related, sub) if related is not None else None
        return shaped

    def query_ids(self, limetype: str, filter: dict[str, Any] | None) -> list[int]:
        return [int(row["_id"]) for row in self.query(limetype, ["_id"], filter)]


# ---- Billecta ------------------------------------------------------------------------------------------

_PUBLIC_IDS = itertools.count(1)
_BILLECTA_WRITES = frozenset({
    "create_creditor", "update_creditor", "create_debtor", "update_debtor", "anonymize_debtor",
    "update_default_action_config", "create_product", "update_product", "delete_product", "create_invoice",
    "update_invoice", "attest_invoice", "delete_invoice"})


class FakeBillecta(_Faults):
    """Billecta's API in memory: what exists is what the use-cases created (or a test added)."""

    def __init__(self) -> None:
        super().__init__()
        self.creditors: dict[str, dict[str, Any]] = {}
        self.debtors: dict[str, dict[str, Any]] = {}
        self.products: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        #: answers of ``call`` per route name: a value, or a function of (path_params, body, query)
        self.routes: dict[str, Any] = {}
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def _record(self, method: str, *args: Any) -> None:
        self.calls.append((method, args))
        self._maybe_fail(method)

    @staticmethod
    def _new_id(kind: str) -> str:
        # Unique across tests: the service remembers creditors it saw in Billecta, per process.
        return f"{kind}-{next(_PUBLIC_IDS)}"

    @staticmethod
    def _missing(what: str, public_id: str) -> BillectaApiNotFoundException:
        return BillectaApiNotFoundException(f"{what} {public_id} not found", status_code=404)

    @staticmethod
    def refusal(message: str, status: int = 400) -> BillectaApiRequestException:
        """What the real client raises for Billecta's 4xx answer with this ``Message``."""
        if status == 400:
            return BillectaApiBadRequestException(message, status_code=400)
        return BillectaApiRequestException(message, status_code=status)

    @staticmethod
    def outage(route: str = "invoice.create") -> BillectaApiConnectionError:
        """What the real client raises when Billecta cannot be reached."""
        return BillectaApiConnectionError(f"Billecta {route} could not connect: connection refused", route=route)

    def add_creditor(self, name: str = "Demo Fastigheter AB") -> str:
        public_id = self._new_id("creditor")
        self.creditors[public_id] = {"CreditorPublicId": public_id, "Name": name}
        return public_id

    def writes(self) -> list[tuple[str, tuple[Any, ...]]]:
        return [c for c in self.calls if c[0] in _BILLECTA_WRITES]

    def close(self) -> None:
        pass

    # -- generic route
    def call(self, route_name: str, path_params: Mapping[str, object] | None = None, body: object = None,
             query: Mapping[str, object] | None = None, *, idempotent: bool = True) -> Any:
        self._record("call", route_name, dict(path_params or {}), body)
        self._maybe_fail(f"call:{route_name}")
        if route_name not in self.routes:
            raise BillectaApiNotFoundException(f"no answer scripted for {route_name}", status_code=404)
        answer = self.routes[route_name]
        return answer(path_params or {}, body, query or {}) if callable(answer) else copy.deepcopy(answer)

    # -- creditors
    def get_creditor(self, creditor_public_id: str) -> dict[str, Any]:
        self._record("get_creditor", creditor_public_id)
        if creditor_public_id not in self.creditors:
            raise self._missing("creditor", creditor_public_id)
        return copy.deepcopy(self.creditors[creditor_public_id])

    def update_creditor(self, view: Mapping[str, Any]) -> None:
        self._record("update_creditor", dict(view))
        self.creditors[str(view["CreditorPublicId"])].update(view)

    def get_default_action_config(self, creditor_public_id: str) -> dict[str, Any]:
        self._record("get_default_action_config", creditor_public_id)
        return {"CreditorPublicId": creditor_public_id}

    def update_default_action_config(self, view: Mapping[str, Any]) -> None:
        self._record("update_default_action_config", dict(view))

    # -- debtors
    def create_debtor(self, view: Mapping[str, Any]) -> str:
        self._record("create_debtor", dict(view))
        public_id = self._new_id("debtor")
        self.debtors[public_id] = {**view, "DebtorPublicId": public_id}
        return public_id

    def update_debtor(self, view: Mapping[str, Any]) -> None:
        self._record("update_debtor", dict(view))
        public_id = str(view["DebtorPublicId"])
        if public_id not in self.debtors:
            raise self._missing("debtor", public_id)
        self.debtors[public_id].update(view)

    def get_debtor(self, debtor_public_id: str) -> dict[str, Any]:
        self._record("get_debtor", debtor_public_id)
        if debtor_public_id not in self.debtors:
            raise self._missing("debtor", debtor_public_id)
        return copy.deepcopy(self.debtors[debtor_public_id])

    def find_debtor_by_external_id(self, creditor_public_id: str, external_id: str) -> dict[str, Any] | None:
        self._record("find_debtor_by_external_id", creditor_public_id, external_id)
        return next((copy.deepcopy(d) for d in self.debtors.values()
                     if d.get("CreditorPublicId") == creditor_public_id and d.get("DebtorExternalId") == external_id),
                    None)

    def anonymize_debtor(self, debtor_public_id: str) -> None:
        self._record("anonymize_debtor", debtor_public_id)

    # -- products
    def create_product(self, view: Mapping[str, Any]) -> str:
        self._record("create_product", dict(view))
        public_id = self._new_id("product")
        self.products[public_id] = {**view, "ProductPublicId": public_id}
        return public_id

    def update_product(self, view: Mapping[str, Any]) -> None:
        self._record("update_product", dict(view))
        public_id = str(view["ProductPublicId"])
        if public_id not in self.products:
            raise self._missing("product", public_id)
        self.products[public_id].update(view)

    def get_product(self, product_public_id: str) -> dict[str, Any]:
        self._record("get_product", product_public_id)
        if product_public_id not in self.products:
            raise self._missing("product", product_public_id)
        return copy.deepcopy(self.products[product_public_id])

    def find_product_by_external_id(self, creditor_public_id: str, external_id: str) -> dict[str, Any] | None:
        self._record("find_product_by_external_id", creditor_public_id, external_id)
        return next((copy.deepcopy(p) for p in self.products.values()
                     if p.get("CreditorPublicId") == creditor_public_id and p.get("ProductExternalId") == external_id),
                    None)

    def delete_product(self, product_public_id: str) -> None:
        self._record("delete_product", product_public_id)
        if self.products.pop(product_public_id, None) is None:
            raise self._missing("product", product_public_id)

    # -- invoices
    def create_invoice(self, entry: Mapping[str, Any]) -> str:
        self._record("create_invoice", dict(entry))
        public_id = self._new_id("invoice")
        self.invoices[public_id] = {**copy.deepcopy(dict(entry)), "ActionPublicId": public_id,
                                    "State": {"Stage": "Created"}}
        return public_id

    def update_invoice(self, action_public_id: str, entry: Mapping[str, Any]) -> None:
        self._record("update_invoice", action_public_id, dict(entry))
        self._invoice(action_public_id).update(copy.deepcopy(dict(entry)))

    def get_invoice(self, action_public_id: str) -> dict[str, Any]:
        self._record("get_invoice", action_public_id)
        return copy.deepcopy(self._invoice(action_public_id))

    def attest_invoice(self, action_public_id: str) -> None:
        self._record("attest_invoice", action_public_id)
        self._invoice(action_public_id)["State"]["Stage"] = "Attested"

    def open_invoices_by_debtor(self, debtor_public_id: str) -> list[dict[str, Any]]:
        self._record("open_invoices_by_debtor", debtor_public_id)
        return [{"ActionPublicId": i["ActionPublicId"]} for i in self.invoices.values()
                if i.get("DebtorPublicId") == debtor_public_id]

    def delete_invoice(self, action_public_id: str) -> None:
        self._record("delete_invoice", action_public_id)
        if self.invoices.pop(action_public_id, None) is None:
            raise self._missing("invoice", action_public_id)

    def _invoice(self, action_public_id: str) -> dict[str, Any]:
        if action_public_id not in self.invoices:
            raise self._missing("invoice", action_public_id)
        return self.invoices[action_public_id]


# ---- task queue and Redis ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    task: str
    args: list[Any]
    queue: str
    want_result: bool
    kwargs: dict[str, Any]
    task_id: str


@dataclass
class RecordingQueue:
    """``TaskQueue`` that records each publish; with ``broker_up_for`` set, every publish after that many
    successful ones fails as a dead broker does."""

    broker_up_for: int | None = None
    answer: Any = None
    published: list[Published] = field(default_factory=list)
    attempts: int = 0

    def publish(self, task_name: str, args: list[Any], queue: str, *, want_result: bool = False,
                **options: Any) -> str:
        self.attempts += 1
        if self.broker_up_for is not None and len(self.published) >= self.broker_up_for:
            raise ConnectionError("Error 111 connecting to redis:6379. Connection refused.")
        task_id = f"task-{len(self.published) + 1}"
        self.published.append(Published(task_name, list(args), queue, want_result,
                                        dict(options.get("kwargs") or {}), task_id))
        return task_id

    def wait(self, task_id: str, timeout: float) -> Any | None:
        return self.answer

    def tasks(self) -> list[tuple[str, list[Any]]]:
        return [(p.task, p.args) for p in self.published]


class QuickLockRedis(fakeredis.FakeRedis):
    """fakeredis whose locks wait at most ``lock_wait_s`` for a holder to let go."""

    lock_wait_s = 0.05

    def lock(self, name: str, timeout: float | None = None, sleep: float = 0.1, blocking: bool = True,
             blocking_timeout: float | None = None, **kwargs: Any) -> Any:
        wait = self.lock_wait_s if blocking_timeout is None else min(blocking_timeout, self.lock_wait_s)
        return super().lock(name, timeout=timeout, sleep=0.01, blocking=blocking, blocking_timeout=wait, **kwargs)


# ---- Services ------------------------------------------------------------------------------------------


def settings_for(tmp_path: Path, **env: str) -> Settings:
    """Development settings pointing nowhere real (nothing here is contacted: the clients are fakes)."""
    return load_settings(env={
        "BILLECTA_SYNC_ENV": "development",
        "BILLECTA_API_BASE_URL": "http://127.0.0.1:9/v1",
        "BILLECTA_API_AUTHENTICATION": "SecureToken ZGV2LWJpbGxlY3RhLXRva2Vu",
        "LIME_BASE_URL": "http://127.0.0.1:9/lime/api/v1/",
        "LIME_API_KEY": "dev-lime-key",
        "GATEWAY_API_KEYS_WEBHOOK": "dev-webhook-key",
        "GATEWAY_API_KEYS_COMMANDS": "dev-commands-key",
        "GATEWAY_API_KEYS_OPERATOR": "dev-operator-key",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'service.db'}",
        "REDIS_URL": "redis://127.0.0.1:9/0",
        "WORKER_COALESCE_WINDOW_S": "0",  # a test's events come one at a time: nothing to wait for
        **env,
    })


def make_services(settings: Settings, db: Database, *, lime: FakeLime | None = None,
                  billecta: FakeBillecta | None = None, redis: fakeredis.FakeRedis | None = None,
                  queue: RecordingQueue | None = None) -> Services:
    """``Services`` over the fakes (each one made fresh unless given)."""
    fake_billecta: Any = billecta if billecta is not None else FakeBillecta()
    fake_lime: Any = lime if lime is not None else FakeLime()
    return Services(settings=settings, db=db, billecta=fake_billecta, lime=fake_lime,
                    redis=redis if redis is not None else QuickLockRedis(), pid=os.getpid(), queue=queue)


# ---- a synced customer with one order ------------------------------------------------------------------


def option(key: str) -> dict[str, Any]:
    """An option value as Lime's API returns it."""
    return {"id": 1, "key": key, "text": key.title()}


@dataclass(frozen=True)
class OrderIds:
    order: int
    row: int
    creditor: int
    debtor: int
    article: int
    creditor_public_id: str
    debtor_public_id: str
    product_public_id: str


def add_order(lime: FakeLime, billecta: FakeBillecta, *, status: str = "created") -> OrderIds:
    """A creditor, debtor and article already synced to Billecta, and an order of one row on them."""
    creditor_public_id = billecta.add_creditor()
    creditor = lime.add("creditor", name="Demo Fastigheter AB", creditorpublicid=creditor_public_id)
    debtor = lime.add("debtor", name="Kund AB", ssnregno="556677-8899", email="ekonomi@kund.se",
                      countrycode="SE", debtortype=option("company"), billecta_error_message="")
    article = lime.add("article", articlenumber="HYRA-1", name="Hyra lokal", unit="st", unitprice=12500.5, vat=25,
                       articletype=option("standard"), isactive=True)
    debtor_public_id = billecta.create_debtor({"CreditorPublicId": creditor_public_id, "Name": "Kund AB",
                                               "DebtorExternalId": str(debtor)})
    product_public_id = billecta.create_product({"CreditorPublicId": creditor_public_id,
                                                 "ProductExternalId": str(article), "Description": "Hyra lokal"})
    billecta.calls.clear()  # the setup is not what a test looks at
    lime.add("creditordebtor", creditor=creditor, debtor=debtor, debtorpublicid=debtor_public_id)
    lime.add("creditorarticle", creditor=creditor, article=article, articlepublicid=product_public_id)
    order = lime.add("order", creditor=creditor, debtor=debtor, orderstatus=option(status),
                     invoicedate="2026-01-31", paymenttermsindays=30, deliverymethod=option("email"),
                     ourreference="Anna Andersson", actionpublicid="", billecta_error_message="")
    row = lime.add("orderrow", order=order, article=article, rowtype=option("standard"), description="Hyra december",
                   quantity=2, unitprice=12500.5, vat=25, position=1)
    return OrderIds(order, row, creditor, debtor, article, creditor_public_id, debtor_public_id, product_public_id)
