"""Flask app imitating Lime CRM's REST API (limeobject, query, limetype, file, subscription APIs).

Production code reaches it only over HTTP with the same client it uses against a real Lime, so the
sandbox is strict where Lime is strict (null text, unknown option keys, missing relations).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any
from urllib.parse import quote, unquote, urlencode

from flask import Blueprint, Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from sandbox.common import FaultInjector, Knobs, WebhookSender
from sandbox.lime.datamodel import SYSTEM_FIELDS, LimeType, Property, all_events
from sandbox.lime.query import MAX_QUERY_LIMIT, Compiler, parse_response_format, render_rows
from sandbox.lime.store import LimeStore, Row
from sandbox.lime.values import (
    ValidationError,
    coerce_write,
    format_time,
    parse_time,
    rest_value,
    system_value,
    webhook_value,
    webhook_values,
)

log = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "sqlite:///lime-sandbox.db"
DEFAULT_LIST_LIMIT = 10
MAX_LIST_LIMIT = 500
_LIST_RESERVED = ("_limit", "_offset", "_sort", "_embed")
# Keys a client may send back unchanged after reading an object; they are read-only, not errors.
_IGNORED_WRITE_KEYS = frozenset(SYSTEM_FIELDS) | {"_links", "_embedded"}
_WEBHOOK_SETTINGS = ("webhook_max_attempts", "webhook_backoff_s", "webhook_backoff_max_s", "webhook_timeout_s")


@dataclass
class LimeSandboxConfig:
    application: str = "lime"
    api_keys: list[str] = field(default_factory=lambda: ["dev-lime-key"])
    database_url: str = DEFAULT_DATABASE_URL
    knobs: Knobs = field(default_factory=Knobs)
    webhook_max_attempts: int = 5
    webhook_backoff_s: float = 0.5
    webhook_backoff_max_s: float = 30.0
    webhook_timeout_s: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LimeSandboxConfig:
        """Read ``LIME_SANDBOX_*`` variables; knobs use their field name, e.g. ``LIME_SANDBOX_LATENCY_MS``."""
        env = os.environ if environ is None else environ
        prefix = "LIME_SANDBOX_"
        config = cls()
        if f"{prefix}APPLICATION" in env:
            config.application = env[f"{prefix}APPLICATION"]
        if f"{prefix}API_KEYS" in env:
            config.api_keys = [k.strip() for k in env[f"{prefix}API_KEYS"].split(",") if k.strip()]
        if f"{prefix}DATABASE_URL" in env:
            config.database_url = env[f"{prefix}DATABASE_URL"]
        for name in _WEBHOOK_SETTINGS:
            if f"{prefix}{name.upper()}" in env:
                setattr(config, name, type(getattr(config, name))(env[f"{prefix}{name.upper()}"]))
        knob_values = {
            f.name: env[f"{prefix}{f.name.upper()}"] for f in fields(Knobs) if f"{prefix}{f.name.upper()}" in env
        }
        config.knobs.update(knob_values)
        return config


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class RequestStats:
    """Counts API requests by method and kind so tests and benchmarks can measure client chattiness."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.total = 0
            self.by_kind: Counter[str] = Counter()
            self.by_method: Counter[str] = Counter()
            self.by_method_kind: Counter[str] = Counter()
            self.by_limetype_kind: Counter[str] = Counter()
            self.by_status: Counter[str] = Counter()
            self.recent: deque[str] = deque(maxlen=TRACE_LENGTH)
            self.since = time.time()

    def count(self, method: str, kind: str, limetype: str | None) -> None:
        with self._lock:
            self.total += 1
            self.by_kind[kind] += 1
            self.by_method[method] += 1
            self.by_method_kind[f"{method} {kind}"] += 1
            if limetype:
                self.by_limetype_kind[f"{limetype} {kind}"] += 1
            self.recent.append(f"{method} {kind} {limetype or ''}".rstrip())

    def status(self, code: int) -> None:
        with self._lock:
            self.by_status[str(code)] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self.total,
                "by_kind": dict(self.by_kind),
                "by_method": dict(self.by_method),
                "by_method_kind": dict(self.by_method_kind),
                "by_limetype_kind": dict(self.by_limetype_kind),
                "by_status": dict(self.by_status),
                "recent": list(self.recent),
                "since": self.since,
            }


TRACE_LENGTH = 5000  # the last requests, oldest first, so a test or bench can see which calls a flow made

# (endpoint, method) -> kind used in the stats; the endpoint alone covers every method.
_KINDS: dict[tuple[str, str | None], str] = {
    ("root", None): "root",
    ("limetypes", None): "limetype",
    ("limetype", None): "limetype",
    ("objects", "GET"): "list",
    ("objects", "POST"): "create",
    ("object", "GET"): "get",
    ("object", "PUT"): "update",
    ("object", "DELETE"): "delete",
    ("related", None): "related",
    ("query", None): "query",
    ("file_upload", None): "file",
    ("file_meta", None): "file",
    ("file_contents", None): "file",
    ("subscriptions", None): "subscription",
    ("subscriptions_available", None): "subscription",
    ("subscription", None): "subscription",
}


def _loads(raw: str | None) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _request_kind() -> str:
    endpoint = (request.endpoint or "").rpartition(".")[2]
    return _KINDS.get((endpoint, request.method)) or _KINDS.get((endpoint, None)) or "other"


class LimeSandbox:
    """Everything one sandbox instance holds: store, webhook sender, knobs and counters."""

    def __init__(self, config: LimeSandboxConfig) -> None:
        self.config = config
        self.store = LimeStore(config.database_url)
        self.compiler = Compiler(self.store)
        self.sender = WebhookSender(
            max_attempts=config.webhook_max_attempts,
            backoff_s=config.webhook_backoff_s,
            backoff_max_s=config.webhook_backoff_max_s,
            timeout_s=config.webhook_timeout_s,
            name="lime-webhooks",
        )
        self.api_prefix = f"/{config.application}/api/v1"
        self.injector = FaultInjector(config.knobs, self.api_prefix, lambda message: {"error": message})
        self.stats = RequestStats()
        # Each API key acts as its own API user; its id shows up in _createduser/_updateduser.
        self.users = {key: index + 1 for index, key in enumerate(config.api_keys)}
        self._subs_lock = threading.Lock()
        self._subs_cache: list[Row] | None = None

    # --- helpers used by the views ------------------------------------------------------------------

    def limetype(self, name: str, status: int = 400) -> LimeType:
        # Writing to or listing an unknown limetype is a bad request; the limetype API answers 404.
        lt = self.store.model.get(name)
        if lt is None:
            raise ApiError(status, f"unknown limetype {name!r}")
        return lt

    def api_base(self) -> str:
        return request.url_root + f"{quote(self.config.application)}/api/v1/"

    def current_user(self) -> int | None:
        return self.users.get(request.headers.get("X-API-Key", ""))

    def invalidate_subscriptions(self) -> None:
        with self._subs_lock:
            self._subs_cache = None

    def subscriptions(self) -> list[Row]:
        with self._subs_lock:
            if self._subs_cache is None:
                self._subs_cache = self.store.list_subscriptions()
            return self._subs_cache

    def emit(self, lt: LimeType, kind: str, row: Row, original: Row | None = None) -> None:
        event = f"{lt.name}.{kind}"
        targets = [s for s in self.subscriptions() if s["enabled"] and event in s["events"]]
        if not targets:
            return
        body: dict[str, Any] = {"id": row["_id"], "limetype": lt.name, "values": webhook_values(lt, row)}
        if original is not None:
            body["original_values"] = {
                name: webhook_value(lt.get(name), value)  # type: ignore[arg-type]
                for name, value in original.items()
                if lt.get(name) is not None
            }
        raw = json.dumps({"event": event, "body": body}).encode("utf-8")
        for sub in targets:
            headers = {"Content-Type": "application/json"}
            if sub.get("secret"):
                digest = hmac.new(sub["secret"].encode("utf-8"), raw, hashlib.sha256).hexdigest()
                headers["X-Lime-Signature"] = f"sha256={digest}"
            self.sender.send(sub["target_url"], raw, headers, event)

    def reset(self) -> None:
        self.store.reset()
        self.sender.clear()
        self.invalidate_subscriptions()
        self.stats.reset()


def _error(status: int, message: str) -> Response:
    resp = jsonify({"error": message, "code": status})
    resp.status_code = status
    return resp


def _json_body(kind: type = dict) -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, kind):
        noun = "object" if kind is dict else "list"
        raise ApiError(400, f"request body must be a JSON {noun}")
    return body


def _int_arg(name: str, default: int, low: int, high: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer, got {raw!r}") from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ApiError(400, f"{name} must be {bound}, got {value}")
    return value


# --- representations ------------------------------------------------------------------------------


def _object_json(sb: LimeSandbox, lt: LimeType, row: Row, base: str) -> dict[str, Any]:
    obj: dict[str, Any] = {prop.name: rest_value(prop, row.get(prop.name)) for prop in lt.properties}
    for name in SYSTEM_FIELDS:
        obj[name] = system_value(name, row, lt)
    self_href = f"{base}limeobject/{lt.name}/{row['_id']}/"
    links: dict[str, Any] = {
        "self": {"href": self_href},
        "limetype": {"href": f"{base}limetype/{lt.name}/"},
    }
    for prop in lt.relations:
        links[f"relation_{prop.name}"] = {"href": f"{self_href}{prop.name}/", "name": prop.name}
    obj["_links"] = links
    return obj


def _embed_props(lt: LimeType) -> list[Property]:
    props: list[Property] = []
    for raw in request.args.getlist("_embed"):
        for name in filter(None, (part.strip() for part in raw.split(","))):
            prop = lt.get(name)
            if prop is None or prop.type != "belongsto":
                raise ApiError(400, f"_embed: {lt.name}.{name} is not a relation")
            props.append(prop)
    return props


def _objects_json(sb: LimeSandbox, lt: LimeType, rows: list[Row], embed: list[Property]) -> list[dict[str, Any]]:
    base = sb.api_base()
    out = [_object_json(sb, lt, row, base) for row in rows]
    for prop in embed:
        assert prop.related is not None
        target = sb.store.model[prop.related]
        related = sb.store.get_many(target.name, (row.get(prop.name) for row in rows))
        for row, obj in zip(rows, out, strict=True):
            rel_row = related.get(row.get(prop.name))  # type: ignore[arg-type]
            embedded = obj.setdefault("_embedded", {})
            embedded[f"relation_{prop.name}"] = _object_json(sb, target, rel_row, base) if rel_row else None
    return out


def _limetype_json(lt: LimeType, base: str) -> dict[str, Any]:
    props = []
    for prop in lt.properties:
        entry: dict[str, Any] = {"name": prop.name, "type": prop.type, "localname": prop.name}
        if prop.type == "option":
            entry["options"] = [o.as_dict() for o in prop.options]
        if prop.type == "belongsto":
            entry["_links"] = {"related_type": {"name": prop.related, "href": f"{base}limetype/{prop.related}/"}}
        props.append(entry)
    return {
        "name": lt.name,
        "localname": {"singular": lt.singular, "plural": lt.plural},
        "_links": {"self": {"href": f"{base}limetype/{lt.name}/"}},
        "_embedded": {"properties": props},
    }


def _file_json(meta: Row, base: str) -> dict[str, Any]:
    href = f"{base}file/{meta['id']}/"
    return {
        "id": meta["id"],
        "filename": meta["filename"],
        "size": meta["size"],
        "content_type": meta["content_type"],
        "extension": meta["extension"],
        "created_by": meta["created_by"],
        "locked_by": None,
        "last_modified": format_time(meta["created_time"]),
        "_links": {"self": {"href": href}, "contents": {"href": f"{href}contents/"}},
    }


def _subscription_json(sub: Row, base: str) -> dict[str, Any]:
    return {
        "id": sub["id"],
        "name": sub["name"],
        "events": sub["events"],
        "target_url": sub["target_url"],
        "enabled": bool(sub["enabled"]),
        "_links": {"self": {"href": f"{base}subscription/{sub['id']}/"}},
    }


def _coerce_values(lt: LimeType, body: Mapping[str, Any]) -> Row:
    values: Row = {}
    for key, value in body.items():
        if key in _IGNORED_WRITE_KEYS:
            continue
        prop = lt.get(key)
        if prop is None:
            raise ValidationError(f"unknown property {lt.name}.{key}")
        values[key] = coerce_write(lt, prop, value)
    return values


def _filename_from_disposition(header: str) -> str | None:
    # Lime's client sends ';filename*="UTF-8''<urlencoded>"'; a plain filename="x" is accepted too.
    plain = None
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        name, value = name.strip().lower(), value.strip().strip('"')
        if name == "filename*":
            _charset, _, encoded = value.partition("''")
            return unquote(encoded or value)
        if name == "filename":
            plain = value
    return plain


# --- API blueprint -----------------------------------------------------------------------------------


def _api_blueprint(sb: LimeSandbox) -> Blueprint:
    bp = Blueprint("lime_api", __name__, url_prefix=sb.api_prefix)

    @bp.before_request
    def _auth() -> Response | None:
        key = request.headers.get("X-API-Key")
        if not key:
            return _error(401, "missing X-API-Key header")
        if key not in sb.users:
            return _error(401, "invalid API key")
        return None

    @bp.get("/", endpoint="root", strict_slashes=False)
    def root() -> Any:
        base = sb.api_base()
        return {
            "application": sb.config.application,
            "version": "v1",
            "_links": {
                name: {"href": f"{base}{name}/"} for name in ("limetype", "limeobject", "query", "file", "subscription")
            },
        }

    # limetype API

    @bp.get("/limetype/", endpoint="limetypes", strict_slashes=False)
    def limetypes() -> Any:
        base = sb.api_base()
        return {
            "_embedded": {"limetypes": [_limetype_json(lt, base) for lt in sb.store.model.values()]},
            "_links": {"self": {"href": f"{base}limetype/"}},
        }

    @bp.get("/limetype/<name>/", endpoint="limetype", strict_slashes=False)
    def limetype(name: str) -> Any:
        return _limetype_json(sb.limetype(name, status=404), sb.api_base())

    # limeobject API

    @bp.route("/limeobject/<limetype>/", methods=["GET", "POST"], endpoint="objects", strict_slashes=False)
    def objects(limetype: str) -> Any:
        lt = sb.limetype(limetype)
        if request.method == "POST":
            values = _coerce_values(lt, _json_body())
            row = sb.store.insert(lt.name, values, sb.current_user())
            sb.emit(lt, "new", row)
            obj = _object_json(sb, lt, row, sb.api_base())
            resp = jsonify(obj)
            resp.status_code = 201
            resp.headers["Location"] = obj["_links"]["self"]["href"]
            return resp
        return _list(lt, extra=None)

    def _list(lt: LimeType, extra: Any) -> Any:
        limit = _int_arg("_limit", DEFAULT_LIST_LIMIT, 1, MAX_LIST_LIMIT)
        offset = _int_arg("_offset", 0, 0)
        sort: list[tuple[str, bool]] = []
        for raw in request.args.getlist("_sort"):
            for item in filter(None, (p.strip() for p in raw.split(","))):
                sort.append((item[1:], True) if item.startswith("-") else (item, False))
        embed = _embed_props(lt)
        params = {k: request.args.getlist(k) for k in request.args if k not in _LIST_RESERVED}
        where = sb.compiler.params_filter(lt, params)
        if extra is not None:
            where = extra if where is None else (where & extra)
        # One extra row tells whether a next page exists without a COUNT over a big table.
        rows = sb.store.select_rows(lt.name, where, sb.compiler.order(lt, sort), limit + 1, offset)
        more = len(rows) > limit
        rows = rows[:limit]
        links: dict[str, Any] = {"self": {"href": request.url}}
        if more:
            query = [(k, v) for k, v in request.args.items(multi=True) if k != "_offset"]
            query.append(("_offset", str(offset + limit)))
            links["next"] = {"href": f"{request.base_url}?{urlencode(query)}"}
        if offset > 0:
            query = [(k, v) for k, v in request.args.items(multi=True) if k != "_offset"]
            query.append(("_offset", str(max(0, offset - limit))))
            links["prev"] = {"href": f"{request.base_url}?{urlencode(query)}"}
        return {"_embedded": {"limeobjects": _objects_json(sb, lt, rows, embed)}, "_links": links}

    def _load(lt: LimeType, object_id: int) -> Row:
        row = sb.store.get(lt.name, object_id)
        if row is None:
            raise ApiError(404, f"{lt.name} {object_id} not found")
        return row

    @bp.route(
        "/limeobject/<limetype>/<int:object_id>/",
        methods=["GET", "PUT", "DELETE"],
        endpoint="object",
        strict_slashes=False,
    )
    def object_(limetype: str, object_id: int) -> Any:
        lt = sb.limetype(limetype)
        if request.method == "GET":
            return _objects_json(sb, lt, [_load(lt, object_id)], _embed_props(lt))[0]
        if request.method == "DELETE":
            old = sb.store.delete(lt.name, object_id)
            if old is None:
                raise ApiError(404, f"{lt.name} {object_id} not found")
            sb.emit(lt, "delete", old)
            return Response(status=204)
        body = _json_body()
        _load(lt, object_id)  # 404 before 400, like a REST API checks the resource first
        values = _coerce_values(lt, body)
        result = sb.store.update(lt.name, object_id, values, sb.current_user())
        if result is None:
            raise ApiError(404, f"{lt.name} {object_id} not found")
        _old, new, changed = result
        if changed:
            sb.emit(lt, "update", new, original=changed)
        return _object_json(sb, lt, new, sb.api_base())

    @bp.get("/limeobject/<limetype>/<int:object_id>/<relation>/", endpoint="related", strict_slashes=False)
    def related(limetype: str, object_id: int, relation: str) -> Any:
        lt = sb.limetype(limetype)
        row = _load(lt, object_id)
        prop = lt.get(relation)
        if prop is not None and prop.type == "belongsto":
            assert prop.related is not None
            target = sb.store.model[prop.related]
            if row.get(relation) is None:
                raise ApiError(404, f"{lt.name} {object_id} has no {relation}")
            return _objects_json(sb, target, [_load(target, row[relation])], _embed_props(target))[0]
        # Reverse direction: /limeobject/order/5/orderrow/ lists the order rows pointing at order 5.
        child = sb.store.model.get(relation)
        back = [p for p in child.relations if p.related == lt.name] if child else []
        if child is None or len(back) != 1:
            raise ApiError(404, f"{lt.name} has no relation {relation!r}")
        col = sb.store.tables[child.name].c[back[0].name]
        return _list(child, extra=(col == object_id))

    # query API

    @bp.route("/query/", methods=["GET", "POST"], endpoint="query", strict_slashes=False)
    def query() -> Any:
        if request.method == "GET":
            raw = request.args.get("q")
            if not raw:
                raise ApiError(400, "missing query parameter q (URL-encoded JSON)")
            try:
                spec = json.loads(raw)
            except ValueError as exc:
                raise ApiError(400, f"q is not valid JSON: {exc}") from None
        else:
            spec = _json_body()
        if not isinstance(spec, dict):
            raise ApiError(400, "the query must be a JSON object")
        return _run_query(sb, spec)

    # file API

    @bp.post("/file/", endpoint="file_upload", strict_slashes=False)
    def file_upload() -> Any:
        content_type = request.headers.get("Content-Type") or "application/octet-stream"
        if content_type.startswith("multipart/"):
            raise ApiError(400, "send the file as the raw request body, not as multipart form data")
        filename = _filename_from_disposition(request.headers.get("Content-Disposition", ""))
        if not filename:
            raise ApiError(400, "a Content-Disposition header with filename* is required")
        data = request.get_data(cache=False)
        if not data:
            raise ApiError(400, "the file is empty")
        meta = sb.store.add_file(filename, content_type, data, sb.current_user())
        resp = jsonify(_file_json(meta, sb.api_base()))
        resp.status_code = 201
        return resp

    def _file(file_id: int, with_data: bool) -> Row:
        meta = sb.store.get_file(file_id, with_data=with_data)
        if meta is None:
            raise ApiError(404, f"file {file_id} not found")
        return meta

    @bp.get("/file/<int:file_id>/", endpoint="file_meta", strict_slashes=False)
    def file_meta(file_id: int) -> Any:
        return _file_json(_file(file_id, with_data=False), sb.api_base())

    @bp.get("/file/<int:file_id>/contents/", endpoint="file_contents", strict_slashes=False)
    def file_contents(file_id: int) -> Any:
        meta = _file(file_id, with_data=True)
        name = meta["filename"]
        ascii_name = name.encode("ascii", "replace").decode("ascii").replace('"', "")
        resp = Response(meta["data"], mimetype=meta["content_type"])
        resp.headers["Content-Disposition"] = (
            f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"
        )
        return resp

    # subscription API

    @bp.get("/subscription/available/", endpoint="subscriptions_available", strict_slashes=False)
    def subscriptions_available() -> Any:
        return jsonify(all_events())

    @bp.route("/subscription/", methods=["GET", "POST"], endpoint="subscriptions", strict_slashes=False)
    def subscriptions() -> Any:
        base = sb.api_base()
        if request.method == "POST":
            values = _subscription_values(_json_body(), creating=True)
            sub = sb.store.add_subscription(
                values["events"],
                values["target_url"],
                values.get("secret"),
                values.get("name", ""),
                values.get("enabled", True),
            )
            sb.invalidate_subscriptions()
            resp = jsonify(_subscription_json(sub, base))
            resp.status_code = 201
            return resp
        subs = sb.store.list_subscriptions()
        wanted_events = {e for e in request.args.get("events", "").split(",") if e}
        if wanted_events:
            subs = [s for s in subs if wanted_events <= set(s["events"])]
        if "target_url" in request.args:
            subs = [s for s in subs if s["target_url"] == request.args["target_url"]]
        if "enabled" in request.args:
            flag = request.args["enabled"].lower() in ("1", "true", "yes")
            subs = [s for s in subs if bool(s["enabled"]) == flag]
        return jsonify([_subscription_json(s, base) for s in subs])

    @bp.route(
        "/subscription/<int:sub_id>/", methods=["GET", "PUT", "DELETE"], endpoint="subscription", strict_slashes=False
    )
    def subscription(sub_id: int) -> Any:
        base = sb.api_base()
        if request.method == "GET":
            sub = sb.store.get_subscription(sub_id)
        elif request.method == "PUT":
            sub = sb.store.update_subscription(sub_id, _subscription_values(_json_body(), creating=False))
            sb.invalidate_subscriptions()
        else:
            found = sb.store.delete_subscription(sub_id)
            sb.invalidate_subscriptions()
            if found:
                return Response(status=204)
            sub = None
        if sub is None:
            raise ApiError(404, f"subscription {sub_id} not found")
        return _subscription_json(sub, base)

    return bp


def _subscription_values(body: Mapping[str, Any], creating: bool) -> Row:
    known = {"events", "target_url", "secret", "name", "enabled"}
    unknown = sorted(set(body) - known - {"id", "_links"})
    if unknown:
        raise ApiError(400, f"unknown subscription fields: {', '.join(unknown)}")
    values: Row = {}
    if "events" in body or creating:
        events = body.get("events")
        if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
            raise ApiError(400, "events must be a non-empty list of event names like 'order.update'")
        available = set(all_events())
        bad = [e for e in events if e not in available]
        if bad:
            raise ApiError(400, f"unknown events: {', '.join(bad)}")
        values["events"] = list(dict.fromkeys(events))
    if "target_url" in body or creating:
        url = body.get("target_url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ApiError(400, "target_url must be an http(s) URL")
        values["target_url"] = url
    if "secret" in body:
        if body["secret"] is not None and not isinstance(body["secret"], str):
            raise ApiError(400, "secret must be a string")
        values["secret"] = body["secret"] or None
    if "name" in body:
        if not isinstance(body["name"], str):
            raise ApiError(400, "name must be a string")
        values["name"] = body["name"]
    if "enabled" in body:
        if not isinstance(body["enabled"], bool):
            raise ApiError(400, "enabled must be true or false")
        values["enabled"] = body["enabled"]
    return values


def _run_query(sb: LimeSandbox, spec: Mapping[str, Any]) -> dict[str, Any]:
    compiler = sb.compiler
    unknown = sorted(set(spec) - {"limetype", "responseFormat", "filter", "limit", "offset", "orderBy"})
    if unknown:
        raise ValidationError(f"unknown query keys: {', '.join(unknown)}")
    lt = compiler.limetype(spec.get("limetype"))
    fmt = spec.get("responseFormat") or {}
    if not isinstance(fmt, Mapping):
        raise ValidationError("responseFormat must be an object")
    field_spec = parse_response_format(compiler, lt, fmt.get("object"))
    limit = spec.get("limit", MAX_QUERY_LIMIT)
    offset = spec.get("offset", 0) or 0
    for name, value in (("limit", limit), ("offset", offset)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValidationError(f"{name} must be a non-negative integer, got {value!r}")
    if limit > MAX_QUERY_LIMIT:
        raise ValidationError(f"limit must be at most {MAX_QUERY_LIMIT}, got {limit}")
    where = compiler.filter(lt, spec["filter"]) if spec.get("filter") else None
    order = compiler.order_by_spec(lt, spec.get("orderBy"))
    rows = sb.store.select_rows(lt.name, where, order, limit, offset) if limit else []
    result: dict[str, Any] = {"objects": render_rows(sb.store, field_spec, rows)}
    if fmt.get("aggregates"):
        exprs = compiler.aggregates(lt, fmt["aggregates"])
        raw = sb.store.aggregate(lt.name, where, {name: expr for name, (expr, _kind) in exprs.items()})
        result["aggregates"] = {name: _aggregate_value(raw[name], kind) for name, (_expr, kind) in exprs.items()}
    return result


def _aggregate_value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "integer":
        return int(value)
    if kind == "decimal":
        return round(float(value), 6)  # hides float noise from SUM over many rows
    if hasattr(value, "isoformat"):
        return format_time(value) if kind == "time" else value.isoformat()
    return value


# --- admin blueprint ---------------------------------------------------------------------------------


def _admin_blueprint(sb: LimeSandbox) -> Blueprint:
    bp = Blueprint("lime_admin", __name__, url_prefix="/_sandbox")

    @bp.get("/health")
    def health() -> Any:
        return {
            "status": "ok",
            "application": sb.config.application,
            "api_prefix": sb.api_prefix,
            "database": sb.store.engine.dialect.name,
            "limetypes": len(sb.store.model),
        }

    @bp.post("/reset")
    def reset() -> Any:
        sb.reset()
        return {"reset": True}

    def _config_json() -> dict[str, Any]:
        return {
            **sb.injector.snapshot(),
            "webhooks": {
                "webhook_max_attempts": sb.sender.max_attempts,
                "webhook_backoff_s": sb.sender.backoff_s,
                "webhook_backoff_max_s": sb.sender.backoff_max_s,
                "webhook_timeout_s": sb.sender.timeout_s,
                "webhooks_paused": sb.sender.paused,
            },
        }

    @bp.route("/config", methods=["GET", "POST"])
    def config() -> Any:
        if request.method == "POST":
            body = _json_body()
            if isinstance(body.get("knobs"), dict) and len(body) == 1:
                body = body["knobs"]  # also accept the shape GET returns
            webhook_keys = {*_WEBHOOK_SETTINGS, "webhooks_paused"}
            knob_values = {k: v for k, v in body.items() if k not in webhook_keys}
            # Validate on a copy first so a bad key leaves every knob untouched.
            trial = Knobs(**asdict(sb.injector.knobs))
            try:
                trial.update(knob_values)
                webhook_values_ = {k: v for k, v in body.items() if k in webhook_keys}
                parsed = {
                    k: (bool(v) if k == "webhooks_paused" else type(getattr(sb.sender, k[len("webhook_") :]))(v))
                    for k, v in webhook_values_.items()
                }
            except (TypeError, ValueError) as exc:
                raise ApiError(400, str(exc)) from None
            sb.injector.knobs.update(knob_values)
            sb.injector.bucket.reset(sb.injector.knobs.rate_limit_per_s, sb.injector.knobs.rate_limit_burst)
            for key, value in parsed.items():
                setattr(sb.sender, "paused" if key == "webhooks_paused" else key[len("webhook_") :], value)
        return _config_json()

    @bp.get("/stats")
    def stats() -> Any:
        return sb.stats.snapshot()

    @bp.post("/stats/reset")
    def stats_reset() -> Any:
        sb.stats.reset()
        return sb.stats.snapshot()

    @bp.get("/webhooks")
    def webhooks() -> Any:
        status = request.args.get("status") or None
        event = request.args.get("event") or None
        items = []
        for delivery in sb.sender.deliveries(status=status):
            if event is not None and delivery.event != event:
                continue
            summary = delivery.summary()
            summary["payload"] = json.loads(delivery.body)
            summary["headers"] = delivery.headers
            items.append(summary)
        return {"deliveries": items, "count": len(items), "pending": sb.sender.pending_count()}

    @bp.post("/webhooks/wait-idle")
    def wait_idle() -> Any:
        try:
            timeout = float(request.args.get("timeout", "10"))
        except ValueError:
            raise ApiError(400, "timeout must be a number of seconds") from None
        idle = sb.sender.wait_idle(timeout_s=timeout)
        resp = jsonify({"idle": idle, "pending": sb.sender.pending_count()})
        resp.status_code = 200 if idle else 504
        return resp

    @bp.post("/webhooks/<int:delivery_id>/resend")
    def resend(delivery_id: int) -> Any:
        delivery = sb.sender.resend(delivery_id)
        if delivery is None:
            raise ApiError(404, f"delivery {delivery_id} not found")
        return delivery.summary()

    @bp.post("/bulk/<limetype>")
    def bulk(limetype: str) -> Any:
        lt = sb.limetype(limetype)
        rows = _json_body(list)
        prepared: list[Row] = []
        for index, item in enumerate(rows):
            if not isinstance(item, dict):
                raise ApiError(400, f"row {index}: must be a JSON object")
            try:
                stamps = {k: parse_time(item[k], k) for k in ("_timestamp", "_createdtime") if item.get(k)}
                values = _coerce_values(lt, item)
            except ValidationError as exc:
                raise ApiError(400, f"row {index}: {exc}") from None
            values.update(stamps)
            prepared.append(values)
        ids = sb.store.bulk_insert(lt.name, prepared, user=None)
        out: dict[str, Any] = {
            "limetype": lt.name,
            "count": len(ids),
            "first_id": ids[0] if ids else None,
            "last_id": ids[-1] if ids else None,
        }
        if request.args.get("ids", "").lower() in ("1", "true", "yes"):
            out["ids"] = ids
        resp = jsonify(out)
        resp.status_code = 201
        return resp

    return bp


# --- factory -------------------------------------------------------------------------------------------


def create_app(config: LimeSandboxConfig | None = None) -> Flask:
    config = config or LimeSandboxConfig()
    sb = LimeSandbox(config)
    app = Flask("lime_sandbox")
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the model's property order
    app.url_map.strict_slashes = False
    app.extensions["lime_sandbox"] = sb

    @app.before_request
    def _count() -> None:
        # Registered before the fault injector so injected 429/5xx answers are counted too.
        if request.path.startswith(sb.api_prefix):
            limetype = (request.view_args or {}).get("limetype")
            kind = _request_kind()
            if kind == "query" and limetype is None:
                body = request.get_json(silent=True) if request.method == "POST" else _loads(request.args.get("q"))
                limetype = body.get("limetype") if isinstance(body, dict) else None
            sb.stats.count(request.method, kind, limetype if isinstance(limetype, str) else None)

    sb.injector.install(app)

    @app.after_request
    def _finish(resp: Response) -> Response:
        if request.path.startswith(sb.api_prefix):
            sb.stats.status(resp.status_code)
            # The shared fault injector only knows the message; add the status code Lime-style errors carry.
            if resp.status_code >= 400 and resp.is_json:
                body = resp.get_json(silent=True)
                if isinstance(body, dict) and "error" in body and "code" not in body:
                    body["code"] = resp.status_code
                    resp.set_data(json.dumps(body))
        return resp

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return _error(exc.status, exc.message)

    @app.errorhandler(ValidationError)
    def _validation_error(exc: ValidationError) -> Response:
        return _error(400, str(exc))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        return _error(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("lime sandbox: unhandled error")
        return _error(500, f"internal error: {type(exc).__name__}: {exc}")

    app.register_blueprint(_api_blueprint(sb))
    app.register_blueprint(_admin_blueprint(sb))
    return app


def sandbox_of(app: Flask) -> LimeSandbox:
    """The sandbox state behind an app made by :func:`create_app` (store, sender, stats)."""
    return app.extensions["lime_sandbox"]  # type: ignore[no-any-return]
