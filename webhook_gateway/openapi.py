"""The OpenAPI 3.1 document, generated from the app's own URL rules.

Each view carries its description (``@documented``) right where it is defined, and the document is
built by walking ``app.url_map``: a route without a description fails at start-up, and a described
view that is not routed never appears, so the document cannot drift from the routes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask
from werkzeug.routing import parse_converter_args

from billecta_sync.db import InboxStatus
from billecta_sync.inbound.delivery import SOURCES
from billecta_sync.lime.query import (
    COMPARISON_OPS,
    MAX_FILTER_COMPARISONS,
    MAX_FILTER_LIST_LENGTH,
    MAX_FILTER_STRING_LENGTH,
)
from billecta_sync.settings import SCOPES, Settings
from webhook_gateway.limits import MAX_REPLAY_IDS, MAX_ROW_ID

F = TypeVar("F", bound=Callable[..., Any])
DOC_ATTR = "openapi_doc"
_IGNORED_METHODS = {"HEAD", "OPTIONS"}
_ARG = re.compile(r"<(?:(?P<conv>[a-zA-Z_]+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


@dataclass(frozen=True)
class QueryParam:
    name: str
    schema: Mapping[str, Any]
    description: str = ""
    required: bool = False


@dataclass(frozen=True)
class Doc:
    summary: str
    tag: str
    description: str = ""
    request_schema: Mapping[str, Any] | None = None
    query: tuple[QueryParam, ...] = ()
    #: schemas of path arguments, where the URL converter says less (e.g. an enum of a string argument)
    path_schemas: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: status -> (description, schema or None)
    responses: Mapping[int, tuple[str, Mapping[str, Any] | None]] = field(default_factory=dict)
    #: False when the view also takes no body at all (Lime buttons that post nothing)
    body_required: bool = True
    #: left out of the document: the operator console's HTML pages and /metrics are for people and
    #: Prometheus, not API clients (they still need a Doc, so every route stays described in one place)
    internal: bool = False


def documented(doc: Doc) -> Callable[[F], F]:
    """Attach the OpenAPI description to a view (put it above ``@require_scope``)."""

    def decorator(view: F) -> F:
        setattr(view, DOC_ATTR, doc)
        return view

    return decorator


def _string_enum(values: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "string", "enum": list(values)}


SCALAR = {"type": ["string", "number", "integer", "boolean", "null"]}
FILTER_VALUE = {**SCALAR, "maxLength": MAX_FILTER_STRING_LENGTH}
# Lime property names, or a path through relations (creditor.creditorpublicid)
PROPERTY_PATH = r"^[A-Za-z_][A-Za-z0-9_]{0,99}(\.[A-Za-z_][A-Za-z0-9_]{0,99})*$"
#: what a caller's row id may be: the path converter and the bodies refuse anything else
ROW_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID}
DB_UNAVAILABLE = ("the database is unavailable; retry later", ref("Error"))

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {"error": {"type": "string", "description": "short machine-readable code"},
                       "message": {"type": "string", "description": "human-readable reason"}},
    },
    "AuthError": {
        "type": "object",
        "required": ["error", "reason", "message"],
        "properties": {
            "error": {"type": "string", "enum": ["unauthorized", "forbidden"]},
            "reason": {"type": "string", "enum": ["missing_api_key", "invalid_api_key", "wrong_scope"]},
            "message": {"type": "string"},
        },
    },
    "QueryFilter": {
        "description": "A Lime query filter: a comparison, or AND/OR over a list of filters. Keys, operators "
                       "and values are checked against the command's limetype (see docs/operations.md, Limits).",
        "oneOf": [ref("QueryComparison"), ref("QueryJunction")],
    },
    "QueryComparison": {
        "type": "object",
        "required": ["key", "op", "exp"],
        "additionalProperties": False,
        "properties": {
            "key": {"type": "string", "pattern": PROPERTY_PATH, "examples": ["_id"]},
            "op": _string_enum(tuple(sorted(COMPARISON_OPS))),
            "exp": {"oneOf": [FILTER_VALUE,
                              {"type": "array", "items": FILTER_VALUE, "maxItems": MAX_FILTER_LIST_LENGTH}]},
        },
        "examples": [{"key": "_id", "op": "IN", "exp": [1001, 1002, 1003]}],
    },
    "QueryJunction": {
        "type": "object",
        "required": ["op", "exp"],
        "additionalProperties": False,
        "properties": {"op": _string_enum(("AND", "OR")),
                       "exp": {"type": "array", "minItems": 1, "maxItems": MAX_FILTER_COMPARISONS,
                               "items": ref("QueryFilter")}},
    },
    "BatchCommand": {
        "type": "object",
        "required": ["query_filter"],
        "additionalProperties": False,
        "properties": {
            "integration_monitor_batch_title": {"type": "string", "minLength": 1, "maxLength": 200},
            "query_filter": ref("QueryFilter"),
        },
    },
    "BatchStarted": {
        "type": "object",
        "required": ["integration_monitor_batch_id", "status", "total"],
        "properties": {"integration_monitor_batch_id": {"type": "integer"},
                       "status": {"const": "running"}, "total": {"type": "integer"}},
    },
    "BatchQueued": {
        "type": "object",
        "required": ["integration_monitor_batch_id", "status"],
        "properties": {"integration_monitor_batch_id": {"type": "integer"}, "status": {"const": "queued"}},
    },
    "BatchStartFailed": {
        "allOf": [ref("Error"), {"type": "object", "required": ["integration_monitor_batch_id"],
                                 "properties": {"integration_monitor_batch_id": {"type": "integer"}}}],
    },
    "BatchSummary": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"}, "title": {"type": "string"}, "operation": {"type": "string"},
            "status": _string_enum(("running", "ok", "error", "donewitherror")),
            "total": {"type": "integer"}, "started": {"type": "boolean"}, "message": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "ended_at": {"type": ["string", "null"], "format": "date-time"},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "logs": {"type": "array", "items": {"type": "object"}},
        },
    },
    "SeedError": {
        "allOf": [ref("Error"), {"type": "object", "required": ["error_message"],
                                 "properties": {"error_message": {"type": "string",
                                                                  "description": "the seed package's error key"}}}],
    },
    "BatchTaskQueued": {
        "type": "object",
        "required": ["task_id", "status", "integration_monitor_batch_id"],
        "properties": {"task_id": {"type": "string", "description": "empty when the sweeper will start it"},
                       "status": {"const": "success"}, "integration_monitor_batch_id": {"type": "integer"}},
    },
    "CommandResult": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": _string_enum(("pending", "failed", "done")), "message": {"type": "string"},
                       "answer": {}},
    },
    "CommandQueued": {
        "type": "object",
        "required": ["status", "task_id"],
        "properties": {"status": {"const": "queued"}, "task_id": {"type": "string"}},
    },
    "WebhookAccepted": {
        "type": "object",
        "required": ["status", "inbox_id"],
        "properties": {
            "status": _string_enum(("queued", "received", "ignored")),
            "inbox_id": {"type": "integer"},
        },
    },
    "InboxRow": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"}, "source": {"type": "string"},
            "status": _string_enum(InboxStatus.ALL), "event_type": {"type": "string"},
            "object_key": {"type": "string"}, "attempts": {"type": "integer"}, "last_error": {"type": "string"},
            "received_at": {"type": "string", "format": "date-time"},
        },
    },
    "InboxRowDetail": {
        "allOf": [ref("InboxRow"), {"type": "object", "properties": {
            "remote_addr": {"type": "string"},
            "headers": {"type": "object", "additionalProperties": {"type": "string"},
                        "description": "as received, credentials replaced by ***"},
            "body": {"type": "string"}, "body_sha256": {"type": "string"},
            "processed_at": {"type": ["string", "null"], "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        }}],
    },
    "ReplayRequest": {
        "type": "object",
        "additionalProperties": False,
        "description": "Which rows to replay: ids, a status or a received_at range (combined with AND).",
        "properties": {
            "ids": {"type": "array", "items": ROW_ID, "minItems": 1, "maxItems": MAX_REPLAY_IDS},
            "status": _string_enum(InboxStatus.ALL),
            "since": {"type": "string", "format": "date-time"},
            "until": {"type": "string", "format": "date-time"},
            "source": _string_enum(tuple(SOURCES)),
            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_REPLAY_IDS},
        },
    },
    "ReplayResult": {
        "type": "object",
        "required": ["replayed", "ids"],
        "properties": {
            "replayed": {"type": "integer", "description": "rows reset to received"},
            "ids": {"type": "array", "items": {"type": "integer"}},
            "skipped": {"type": "array", "items": {"type": "integer"},
                        "description": "selected but not replayable (being processed, or no handler)"},
            "unpublished": {"type": "array", "items": {"type": "integer"},
                            "description": "reset but not published (broker down); the sweeper picks them up"},
        },
    },
    "DeadLetter": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"}, "task_name": {"type": "string"}, "task_id": {"type": "string"},
            "queue": {"type": "string"}, "args": {"type": "array"}, "kwargs": {"type": "object"},
            "exception": {"type": "string"}, "inbox_id": {"type": ["integer", "null"]},
            "monitor_log_id": {"type": ["integer", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "replayed_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
}


def _security_schemes(settings: Settings) -> dict[str, Any]:
    header = settings.gateway.api_key_header
    schemes: dict[str, Any] = {}
    for scope in SCOPES:
        env = f"GATEWAY_API_KEYS_{scope.upper()}"
        schemes[f"{scope}ApiKey"] = {"type": "apiKey", "in": "header", "name": header,
                                     "description": f"a key from {env}"}
        schemes[f"{scope}Bearer"] = {"type": "http", "scheme": "bearer", "description": f"a key from {env}"}
    return schemes


def _path_and_params(rule: str) -> tuple[str, list[dict[str, Any]]]:
    params: list[dict[str, Any]] = []

    def replace(match: re.Match[str]) -> str:
        kind = {"int": "integer", "float": "number"}.get(match.group("conv") or "", "string")
        schema: dict[str, Any] = {"type": kind}
        if kind != "string" and match.group("args"):
            # int(min=1, max=...): the bounds the converter enforces (anything else is a 404)
            _, kwargs = parse_converter_args(match.group("args"))
            schema.update({"minimum": kwargs["min"]} if kwargs.get("min") is not None else {})
            schema.update({"maximum": kwargs["max"]} if kwargs.get("max") is not None else {})
        params.append({"name": match.group("name"), "in": "path", "required": True, "schema": schema})
        return "{" + match.group("name") + "}"

    return _ARG.sub(replace, rule), params


def _json(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": dict(schema)}}


def _operation(endpoint: str, method: str, doc: Doc, scopes: tuple[str, ...],
               path_params: list[dict[str, Any]]) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": f"{endpoint.replace('.', '_')}_{method.lower()}",
                          "summary": doc.summary, "tags": [doc.tag]}
    if doc.description:
        op["description"] = doc.description
    params = [{**p, "schema": dict(doc.path_schemas.get(p["name"], p["schema"]))} for p in path_params] + [
        {"name": q.name, "in": "query", "required": q.required, "schema": dict(q.schema),
         **({"description": q.description} if q.description else {})}
        for q in doc.query
    ]
    if params:
        op["parameters"] = params
    if doc.request_schema is not None:
        op["requestBody"] = {"required": doc.body_required, "content": _json(doc.request_schema)}
    responses: dict[str, Any] = {}
    for status, (description, schema) in sorted(doc.responses.items()):
        responses[str(status)] = {"description": description, **({"content": _json(schema)} if schema else {})}
    # Answers every route can give, whatever its Doc says: bodies over GATEWAY_MAX_BODY_BYTES are refused
    # as they are read, and too many headers before any view runs.
    if doc.request_schema is not None:
        responses.setdefault("413", {"description": "body too large", "content": _json(ref("Error"))})
    responses.setdefault("431", {"description": "too many request headers", "content": _json(ref("Error"))})
    if scopes:
        op["security"] = [{f"{scope}{kind}": []} for scope in scopes for kind in ("ApiKey", "Bearer")]
        responses.setdefault("401", {"description": "no API key, or an unknown one",
                                     "content": _json(ref("AuthError"))})
        responses.setdefault("403", {"description": "a key of another scope", "content": _json(ref("AuthError"))})
    op["responses"] = dict(sorted(responses.items()))
    return op


def build_openapi(app: Flask, settings: Settings) -> dict[str, Any]:
    """The document for ``app`` as routed; raises ``LookupError`` for a route without a ``Doc``."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions[rule.endpoint]
        doc: Doc | None = getattr(view, DOC_ATTR, None)
        if doc is None:
            raise LookupError(f"route {rule.rule} ({rule.endpoint}) has no OpenAPI description")
        if doc.internal:
            continue
        scopes: tuple[str, ...] = getattr(view, "required_scopes", ())
        path, path_params = _path_and_params(rule.rule)
        for method in sorted((rule.methods or set()) - _IGNORED_METHODS):
            paths.setdefault(path, {})[method.lower()] = _operation(rule.endpoint, method, doc, scopes, path_params)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "billecta-sync webhook gateway",
            "version": "1",
            "description": "Authenticates, validates and queues Billecta webhooks and Lime commands; "
                           "all work happens in the workers.",
        },
        "paths": paths,
        "components": {"securitySchemes": _security_schemes(settings), "schemas": SCHEMAS},
    }
