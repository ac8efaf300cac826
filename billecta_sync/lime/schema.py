"""The property types of the Lime limetypes the service knows, for checking query filters without asking Lime.

The gateway takes query filters from callers and must refuse a bad one before anything is stored, yet it
holds no Lime session on the request path. What it does know is the field mappings: every logical limetype
and property of the default data model (``billecta_sync.mappings.DEFAULT_MODEL``, which also gives each
property's type) and the Lime names a customer maps them to. ``data_model(mappings)`` turns that into a
table keyed by *Lime* names, which is what a filter speaks.

Properties that are not mapped (a customer's own fields) are not refused: they are typed ``custom``, which
takes strings and numbers (never booleans). System fields (``_id``, ``_timestamp``...) are known for every
limetype; any other name starting with ``_`` is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from billecta_sync.mappings import DEFAULT_MODEL, FieldMappings

__all__ = [
    "MAX_LIME_ID",
    "SYSTEM_PROPERTIES",
    "DataModel",
    "LimetypeSchema",
    "PropertyType",
    "data_model",
]

#: Lime's object ids are 32-bit integers; a larger id cannot name an object (and overflows some databases).
MAX_LIME_ID = 2**31 - 1

# Kinds. The first group are the types of DEFAULT_MODEL; the rest are added here.
STRING, TEXT, OPTION, YESNO, DECIMAL, DATE, INTEGER, FILE = (
    "string", "text", "option", "yesno", "decimal", "date", "integer", "file")
RELATION = "relation"  # a belongs-to property: holds the related object's id
ID = "id"  # a system id (_id, _createduser...)
DATETIME = "datetime"  # a system time (_timestamp, _createdtime)
CUSTOM = "custom"  # not in the mappings: a customer's own property, type unknown
KINDS = frozenset({STRING, TEXT, OPTION, YESNO, DECIMAL, DATE, INTEGER, FILE, RELATION, ID, DATETIME, CUSTOM})

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")  # fullmatch: "$" would let a trailing newline in


@dataclass(frozen=True)
class PropertyType:
    kind: str
    #: the Lime limetype a relation points to
    target: str | None = None


#: System fields every limetype has; ``id`` is an alias of ``_id`` that Lime's web client uses.
SYSTEM_PROPERTIES: Mapping[str, PropertyType] = {
    "_id": PropertyType(ID), "id": PropertyType(ID),
    "_timestamp": PropertyType(DATETIME), "_createdtime": PropertyType(DATETIME),
    "_createduser": PropertyType(ID), "_updateduser": PropertyType(ID),
}


@dataclass(frozen=True)
class LimetypeSchema:
    """One limetype, by its Lime name, with its mapped properties by their Lime names."""

    name: str
    properties: Mapping[str, PropertyType]


class UnknownKey(ValueError):
    """A filter key that names no property the service accepts; the message says why."""


@dataclass(frozen=True)
class DataModel:
    limetypes: Mapping[str, LimetypeSchema]  # Lime limetype name -> schema

    def __getitem__(self, limetype: str) -> LimetypeSchema:
        return self.limetypes[limetype]

    def resolve(self, limetype: str, key: str) -> PropertyType:
        """The type of ``key`` (a property name or a dotted relation path) on ``limetype``.

        Raises ``UnknownKey`` for a malformed name, an unknown system field, or a path through something
        that is not a mapped relation. An unmapped plain name is a ``custom`` property.
        """
        schema = self.limetypes.get(limetype)
        segments = key.split(".")
        if not all(_NAME.fullmatch(segment) for segment in segments):
            raise UnknownKey(f"{key!r} is not a property name")
        for i, segment in enumerate(segments):
            last = i == len(segments) - 1
            known = SYSTEM_PROPERTIES.get(segment) or (schema.properties.get(segment) if schema else None)
            if last:
                if known is not None:
                    return known
                if segment.startswith("_"):
                    raise UnknownKey(f"{segment!r} is not a Lime system field")
                return PropertyType(CUSTOM)
            if known is None or known.kind != RELATION or known.target is None:
                where = schema.name if schema else limetype
                raise UnknownKey(f"{key!r}: {segment!r} is not a mapped relation of {where}")
            schema = self.limetypes.get(known.target)
        raise UnknownKey(f"{key!r} is not a property name")  # pragma: no cover - the loop always returns


def data_model(mappings: FieldMappings) -> DataModel:
    """The known limetypes and property types, under the Lime names ``mappings`` gives them."""
    limetypes: dict[str, LimetypeSchema] = {}
    for logical, properties in DEFAULT_MODEL.items():
        mapping = mappings[logical]
        props: dict[str, PropertyType] = {}
        for logical_prop, kind in properties.items():
            if kind.startswith("->"):
                props[mapping.prop(logical_prop)] = PropertyType(RELATION, mappings[kind[2:]].limetype)
            else:
                props[mapping.prop(logical_prop)] = PropertyType(kind if kind in KINDS else CUSTOM)
        # Two logical limetypes mapped onto one Lime limetype share its properties.
        merged = {**(limetypes[mapping.limetype].properties if mapping.limetype in limetypes else {}), **props}
        limetypes[mapping.limetype] = LimetypeSchema(mapping.limetype, merged)
    return DataModel(limetypes)
