"""Table-driven CRUD routes of the Billecta sandbox: one ``Resource`` row per resource addressed by public id,
turned into its ``/v1`` routes by one handler factory.

Billecta's resources share one shape: ``POST {path}`` creates (201 with a CreatedView), ``PUT {path}``
replaces (the id in the body), ``GET``/``DELETE {path}/{id}`` read and delete, ``GET {path}s[/{creditor}]``
lists and ``GET {path}byexternalid/{creditor}?externalid=`` looks up. Bodies and answers are checked by the
generic dispatch (``routing``); the business rules stay in the state the routes are bound to, which has the
methods ``create``, ``update``, ``get``, ``list``, ``by_external_id`` and ``delete`` the row uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sandbox.billecta.routing import Handler, Reply, Route, page, required_query

OPERATIONS = ("create", "update", "get", "by_external_id", "list", "delete")


@dataclass(frozen=True)
class Resource:
    """One row of the CRUD table; ``notes`` names its operations (in route-table order) with their notes'
    status marker and source."""

    name: str  # route names: create_<name>, get_<name>, list_<name>s, <name>_by_external_id, ...
    path: str  # "/v1/debtors/debtor"
    key: str  # the path parameter naming one item: "debtor_id"
    entry_view: str  # body of create and update
    view: str  # answer of get and of the lookup by external id
    notes: Mapping[str, tuple[str, str]]
    list_view: str | None = None
    per_creditor: bool = True  # listed per creditor: GET {path}s/<creditor_id>
    update_by_key: bool = False  # PUT {path}/<key> rather than the id in the body

    def __post_init__(self) -> None:
        unknown = set(self.notes) - set(OPERATIONS)
        if unknown:
            raise ValueError(f"{self.name}: unknown operations {sorted(unknown)}")


def crud_routes(resource: Resource, store: Any) -> list[Route]:
    """The routes of ``resource``, answered by ``store``."""
    r = resource
    item = f"{r.path}/<{r.key}>"

    def create(body: dict[str, Any]) -> Reply:
        return 201, {"PublicId": store.create(body)}

    def update(body: dict[str, Any], **ids: str) -> Reply:
        store.update(body, *ids.values())  # the item's id, when the path names it
        return 200, None

    def get(_body: None, **ids: str) -> Reply:
        return 200, store.get(ids[r.key])

    def by_external_id(_body: None, creditor_id: str) -> Reply:
        return 200, store.by_external_id(creditor_id, required_query("externalid"))

    def list_(_body: None, **ids: str) -> Reply:
        return 200, page(store.list(*ids.values()))

    def delete(_body: None, **ids: str) -> Reply:
        store.delete(ids[r.key])
        return 200, None

    shapes: dict[str, tuple[str, str, str, Handler, str | None, str | None]] = {
        "create": (f"create_{r.name}", "POST", r.path, create, r.entry_view, "CreatedView"),
        "update": (f"update_{r.name}", "PUT", item if r.update_by_key else r.path, update, r.entry_view, None),
        "get": (f"get_{r.name}", "GET", item, get, None, r.view),
        "by_external_id": (f"{r.name}_by_external_id", "GET", f"{r.path}byexternalid/<creditor_id>",
                           by_external_id, None, r.view),
        "list": (f"list_{r.name}s", "GET", f"{r.path}s/<creditor_id>" if r.per_creditor else f"{r.path}s",
                 list_, None, r.list_view),
        "delete": (f"delete_{r.name}", "DELETE", item, delete, None, None),
    }
    routes = []
    for operation, (status, source) in r.notes.items():
        name, method, rule, handler, request_view, response_view = shapes[operation]
        routes.append(Route(name, method, rule, handler, request_view, response_view, status, source))
    return routes
