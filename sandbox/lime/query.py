"""Translation of Lime filters (query API and limeobject list parameters) into SQL.

Everything is compiled into one SQL statement so that filtering, ordering and paging stay fast on
large tables; nothing is filtered in Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, false, func, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from sandbox.lime.datamodel import SYSTEM_FIELDS, LimeType, Property
from sandbox.lime.store import LimeStore, Row
from sandbox.lime.values import ValidationError, coerce_filter, parse_param, query_value, system_value

# Keys usable in filters and ordering besides the properties ("id" is an accepted alias of "_id").
_FILTERABLE_SYSTEM = ("_id", "_timestamp", "_createdtime", "_createduser", "_updateduser")
_COMPARISONS = {">": "__gt__", "<": "__lt__", ">=": "__ge__", "<=": "__le__"}
_TEXT_TYPES = ("string", "text")

MAX_QUERY_LIMIT = 1000


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class Compiler:
    def __init__(self, store: LimeStore) -> None:
        self.store = store

    def limetype(self, name: Any) -> LimeType:
        lt = self.store.model.get(name) if isinstance(name, str) else None
        if lt is None:
            raise ValidationError(f"unknown limetype {name!r}")
        return lt

    def column(self, lt: LimeType, key: Any) -> tuple[Any, Property | None, str]:
        """Resolve a filter/sort key to (column, property or None for system fields, canonical name)."""
        if not isinstance(key, str):
            raise ValidationError(f"{lt.name}: filter key must be a string, got {key!r}")
        name = "_id" if key == "id" else key
        table = self.store.tables[lt.name]
        if name in _FILTERABLE_SYSTEM:
            return table.c[name], None, name
        if name == "_descriptive":
            raise ValidationError(f"{lt.name}._descriptive is computed and cannot be filtered or sorted on")
        prop = lt.get(name)
        if prop is None:
            raise ValidationError(f"unknown property {lt.name}.{key}")
        return table.c[name], prop, name

    # --- filters ----------------------------------------------------------------------------------

    def filter(self, lt: LimeType, expr: Any) -> ColumnElement[bool]:
        if not isinstance(expr, Mapping):
            raise ValidationError(f"a filter expression must be an object, got {expr!r}")
        op = expr.get("op")
        if not isinstance(op, str):
            raise ValidationError(f"filter expression without a valid 'op': {dict(expr)!r}")
        if op.upper() in ("AND", "OR"):
            parts = expr.get("exp")
            if not isinstance(parts, list):
                raise ValidationError(f"'{op}' needs 'exp' to be a list of expressions")
            compiled = [self.filter(lt, part) for part in parts]
            if op.upper() == "AND":
                return and_(true(), *compiled) if compiled else true()
            return or_(false(), *compiled) if compiled else false()
        key = expr.get("key")
        if isinstance(key, str) and "." in key:
            return self._nested(lt, key, op, expr.get("exp"))
        col, prop, name = self.column(lt, key)
        return self.comparison(lt, col, prop, name, op, expr.get("exp"))

    def _nested(self, lt: LimeType, key: str, op: str, value: Any) -> ColumnElement[bool]:
        # "debtor.name" becomes "debtor IN (SELECT _id FROM debtor WHERE name ...)"; no join needed.
        head, rest = key.split(".", 1)
        prop = lt.get(head)
        if prop is None or prop.type != "belongsto":
            raise ValidationError(f"{lt.name}.{head} is not a relation, so {key!r} cannot be filtered on")
        target = self.limetype(prop.related)
        target_table = self.store.tables[target.name]
        inner = self.filter(target, {"key": rest, "op": op, "exp": value})
        return self.store.tables[lt.name].c[head].in_(select(target_table.c._id).where(inner))

    def comparison(
        self, lt: LimeType, col: Any, prop: Property | None, name: str, op: str, raw: Any
    ) -> ColumnElement[bool]:
        kind = prop.type if prop is not None else SYSTEM_FIELDS[name]
        if op == "IN":
            if not isinstance(raw, list):
                raise ValidationError(f"{lt.name}.{name}: 'IN' needs a list")
            values = [coerce_filter(lt, prop, name, v) for v in raw]
            present = [v for v in values if v is not None]
            clause: ColumnElement[bool] = col.in_(present) if present else false()
            return or_(clause, col.is_(None)) if len(present) < len(values) else clause
        if op in ("=?", "?"):
            if kind not in _TEXT_TYPES:
                raise ValidationError(f"{lt.name}.{name}: '{op}' only works on text properties")
            if not isinstance(raw, str):
                raise ValidationError(f"{lt.name}.{name}: '{op}' needs a string")
            pattern = _escape_like(raw) + "%"
            if op == "?":
                pattern = "%" + pattern
            return col.ilike(pattern, escape="\\")
        value = coerce_filter(lt, prop, name, raw)
        if op == "=":
            return col.is_(None) if value is None else col == value
        if op == "!":
            # "not equal" includes objects where the value is empty, as a user would expect.
            return col.is_not(None) if value is None else or_(col != value, col.is_(None))
        if op in _COMPARISONS:
            if value is None:
                raise ValidationError(f"{lt.name}.{name}: '{op}' cannot compare with null")
            if kind in ("option", "yesno"):
                raise ValidationError(f"{lt.name}.{name}: '{op}' does not apply to {kind} properties")
            return getattr(col, _COMPARISONS[op])(value)
        raise ValidationError(f"unknown filter operator {op!r}")

    def params_filter(self, lt: LimeType, params: Mapping[str, list[str]]) -> ColumnElement[bool] | None:
        """Filters of the limeobject list: ``prop=value`` (repeat for IN), ``min-prop=``, ``max-prop=``."""
        clauses: list[ColumnElement[bool]] = []
        for key, raws in params.items():
            bound = key[:4] if key[:4] in ("min-", "max-") else ""
            col, prop, name = self.column(lt, key[len(bound) :])
            kind = prop.type if prop is not None else SYSTEM_FIELDS[name]
            values = [parse_param(lt, prop, name, raw) for raw in raws]
            if bound:
                if kind in ("option", "yesno"):
                    raise ValidationError(f"{lt.name}.{name}: {bound}filters do not apply to {kind} properties")
                for value in values:
                    if value is None:
                        raise ValidationError(f"{lt.name}.{name}: {bound}filter needs a value")
                    clauses.append(col >= value if bound == "min-" else col <= value)
            elif len(values) == 1:
                clauses.append(col.is_(None) if values[0] is None else col == values[0])
            else:
                present = [v for v in values if v is not None]
                clause: ColumnElement[bool] = col.in_(present)
                clauses.append(or_(clause, col.is_(None)) if len(present) < len(values) else clause)
        return and_(*clauses) if clauses else None

    # --- ordering -----------------------------------------------------------------------------------

    def order(self, lt: LimeType, items: list[tuple[str, bool]]) -> list[Any]:
        """``items`` are (key, descending); ``_id`` is always appended so paging is stable."""
        out: list[Any] = []
        seen_id = False
        for key, descending in items:
            col, _prop, name = self.column(lt, key)
            seen_id = seen_id or name == "_id"
            out.append(col.desc() if descending else col.asc())
        if not seen_id:
            out.append(self.store.tables[lt.name].c._id.asc())
        return out

    def order_by_spec(self, lt: LimeType, spec: Any) -> list[Any]:
        if spec is None:
            return self.order(lt, [])
        if isinstance(spec, Mapping):
            spec = [spec]
        if not isinstance(spec, list):
            raise ValidationError("'orderBy' must be a list like [{\"name\": \"ASC\"}]")
        items: list[tuple[str, bool]] = []
        for entry in spec:
            if not isinstance(entry, Mapping):
                raise ValidationError(f"'orderBy' entries must be objects, got {entry!r}")
            for key, direction in entry.items():
                if not isinstance(direction, str) or direction.upper() not in ("ASC", "DESC"):
                    raise ValidationError(f"orderBy {key}: direction must be 'ASC' or 'DESC', got {direction!r}")
                items.append((key, direction.upper() == "DESC"))
        return self.order(lt, items)

    # --- aggregates ---------------------------------------------------------------------------------

    def aggregates(self, lt: LimeType, spec: Any) -> dict[str, tuple[Any, str]]:
        """``{name: {"op": COUNT|SUM|AVG|MIN|MAX, "key": prop}}`` → SQL expressions and result types."""
        if not isinstance(spec, Mapping):
            raise ValidationError("'aggregates' must be an object of {name: {op, key}}")
        out: dict[str, tuple[Any, str]] = {}
        for agg_name, agg in spec.items():
            if not isinstance(agg, Mapping):
                raise ValidationError(f"aggregate {agg_name!r} must be an object")
            op = str(agg.get("op", "")).upper()
            col, prop, name = self.column(lt, agg.get("key", "_id"))
            kind = prop.type if prop is not None else SYSTEM_FIELDS[name]
            if op == "COUNT":
                out[agg_name] = (func.count(col), "integer")
            elif op in ("SUM", "AVG"):
                if kind not in ("integer", "decimal"):
                    raise ValidationError(f"aggregate {agg_name!r}: {op} needs a numeric property")
                out[agg_name] = (getattr(func, op.lower())(col), "decimal")
            elif op in ("MIN", "MAX"):
                out[agg_name] = (getattr(func, op.lower())(col), kind)
            else:
                raise ValidationError(f"aggregate {agg_name!r}: unknown op {op!r}")
        return out


# --- responseFormat -------------------------------------------------------------------------------


@dataclass
class FieldSpec:
    """What to return per object: plain keys, and nested relations with their own spec."""

    limetype: LimeType
    plain: list[tuple[str, str, Property | None]] = field(default_factory=list)  # (out key, name, prop)
    nested: dict[str, tuple[Property, FieldSpec]] = field(default_factory=dict)


def parse_response_format(compiler: Compiler, lt: LimeType, fmt: Any) -> FieldSpec:
    spec = FieldSpec(lt)
    if fmt is None or fmt == {}:
        # Not given: return the id and every property, which is the most useful default.
        spec.plain.append(("_id", "_id", None))
        spec.plain.extend((p.name, p.name, p) for p in lt.properties)
        return spec
    if not isinstance(fmt, Mapping):
        raise ValidationError("'responseFormat.object' must be an object of {property: ''}")
    for key, sub in fmt.items():
        if isinstance(sub, Mapping):
            prop = lt.get(key)
            if prop is None or prop.type != "belongsto":
                raise ValidationError(f"{lt.name}.{key} is not a relation and cannot hold nested properties")
            target = compiler.limetype(prop.related)
            spec.nested[key] = (prop, parse_response_format(compiler, target, sub or {"_id": ""}))
            continue
        name = "_id" if key == "id" else key
        if name in SYSTEM_FIELDS:
            spec.plain.append((key, name, None))
            continue
        prop = lt.get(name)
        if prop is None:
            raise ValidationError(f"unknown property {lt.name}.{key} in responseFormat")
        spec.plain.append((key, name, prop))
    return spec


def render_rows(store: LimeStore, spec: FieldSpec, rows: list[Row]) -> list[dict[str, Any]]:
    related: dict[str, dict[int, dict[str, Any]]] = {}
    for key, (prop, sub_spec) in spec.nested.items():
        assert prop.related is not None
        ids = {row[prop.name] for row in rows if row.get(prop.name) is not None}
        found = store.get_many(prop.related, ids)
        rendered = render_rows(store, sub_spec, list(found.values()))
        related[key] = {r["_id"]: out for r, out in zip(found.values(), rendered, strict=True)}
    out_rows: list[dict[str, Any]] = []
    for row in rows:
        item: dict[str, Any] = {}
        for out_key, name, prop in spec.plain:
            item[out_key] = query_value(prop, row.get(name)) if prop else system_value(name, row, spec.limetype)
        for key, (prop, _sub) in spec.nested.items():
            rel_id = row.get(prop.name)
            item[key] = related[key].get(rel_id) if rel_id is not None else None
        out_rows.append(item)
    return out_rows
