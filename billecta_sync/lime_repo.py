"""Lime access in logical names: the use-cases never see a customer's real limetype or property names."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from billecta_sync.errors import PermanentError
from billecta_sync.lime import LimeClient
from billecta_sync.lime.errors import LimeNotFound
from billecta_sync.mappings import FieldMappings


class LimeRepo:
    def __init__(self, client: LimeClient, mappings: FieldMappings) -> None:
        self.client = client
        self.mappings = mappings

    def _to_logical(self, logical_type: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        mapping = self.mappings[logical_type]
        values = mapping.from_lime(obj)
        values["_id"] = obj.get("_id", obj.get("id"))
        return values

    def get(self, logical_type: str, object_id: int) -> dict[str, Any]:
        limetype = self.mappings[logical_type].limetype
        try:
            obj = self.client.get(limetype, int(object_id))
        except LimeNotFound:
            raise PermanentError(f"{logical_type} {object_id} does not exist in Lime") from None
        return self._to_logical(logical_type, obj)

    def get_or_none(self, logical_type: str, object_id: int) -> dict[str, Any] | None:
        try:
            return self.get(logical_type, object_id)
        except PermanentError:
            return None

    def create(self, logical_type: str, values: Mapping[str, Any]) -> dict[str, Any]:
        mapping = self.mappings[logical_type]
        return self._to_logical(logical_type, self.client.create(mapping.limetype, mapping.to_lime(values)))

    def update(self, logical_type: str, object_id: int, values: Mapping[str, Any]) -> None:
        if not values:
            return
        mapping = self.mappings[logical_type]
        self.client.update(mapping.limetype, int(object_id), mapping.to_lime(values))

    def delete(self, logical_type: str, object_id: int) -> None:
        self.client.delete(self.mappings[logical_type].limetype, int(object_id))

    def filter_for(self, logical_type: str, criteria: Mapping[str, Any]) -> dict[str, Any] | None:
        mapping = self.mappings[logical_type]
        exprs = [{"key": mapping.prop(k), "op": "=", "exp": v} for k, v in criteria.items()]
        if not exprs:
            return None
        return exprs[0] if len(exprs) == 1 else {"op": "AND", "exp": exprs}

    def filter_in(self, logical_type: str, prop: str, values: list[Any]) -> dict[str, Any]:
        """The query filter "``prop`` is one of ``values``" (``_id`` or a logical property)."""
        key = "_id" if prop == "_id" else self.mappings[logical_type].prop(prop)
        return {"key": key, "op": "IN", "exp": values}

    def find(self, logical_type: str, criteria: Mapping[str, Any] | None = None, *,
             filter: dict[str, Any] | None = None, order_by: str | None = None,
             limit: int | None = None) -> Iterator[dict[str, Any]]:
        expr = filter if filter is not None else self.filter_for(logical_type, criteria or {})
        return self.find_nested(logical_type, expr, {}, order_by=order_by, limit=limit)

    def find_nested(self, logical_type: str, filter: dict[str, Any] | None, nested: Mapping[str, Any], *,
                    order_by: str | None = None, limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Like :meth:`find`, with the related objects of ``nested``'s relations in the same query.

        ``nested`` maps a relation property to the logical properties wanted of its target (a list, or
        ``None`` for all of them); each such relation then holds a logical dict with ``_id`` instead of
        an id. One query instead of a GET per related object (Lime's responseFormat nests belongs-to
        relations).
        """
        mapping = self.mappings[logical_type]
        shape: dict[str, Any] = {"_id": ""}
        targets: dict[str, tuple[str, str]] = {}  # lime prop -> (logical prop, target logical type)
        for logical, actual in mapping.properties.items():
            if logical not in nested:
                shape[actual] = ""
                continue
            target = self.mappings.relation_target(logical_type, logical)
            if target is None:
                raise ValueError(f"{logical_type}.{logical} is not a relation")
            target_mapping = self.mappings[target]
            wanted = nested[logical] if nested[logical] is not None else list(target_mapping.properties)
            shape[actual] = {"_id": "", **{target_mapping.prop(p): "" for p in wanted}}
            targets[actual] = (logical, target)
        order = [{mapping.prop(order_by): "ASC"}] if order_by else [{"_id": "ASC"}]
        for obj in self.client.query(mapping.limetype, shape, filter=filter, order_by=order, limit=limit):
            values = self._to_logical(logical_type, obj)
            for actual, (logical, target) in targets.items():
                related = obj.get(actual)
                if isinstance(related, Mapping):
                    values[logical] = self._to_logical(target, related) if related.get("_id") is not None else None
            yield values

    def find_one(self, logical_type: str, criteria: Mapping[str, Any]) -> dict[str, Any] | None:
        """The oldest match, or None. Several matches mean duplicates someone should clean up."""
        return next(self.find(logical_type, criteria, limit=1), None)

    def find_ids(self, logical_type: str, filter: dict[str, Any] | None) -> list[int]:
        return self.client.query_ids(self.mappings[logical_type].limetype, filter)
