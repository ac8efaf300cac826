"""HTTP client for Lime CRM's REST API (limeobjects, query, limetypes, files, subscriptions).

Every request first takes a slot from the shared rate limiter (Lime counts requests per IP, and all
workers share the IP), then goes out with the same retry policy as Billecta calls.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlencode, urljoin

import requests

from billecta_sync import metrics
from billecta_sync.httpretry import retrying
from billecta_sync.httpsessions import ThreadSessions
from billecta_sync.lime.errors import (
    LimeApiError,
    LimeConnectionError,
    LimeNotFound,
    error_from_response,
    retryable,
)
from billecta_sync.lime.query import validate_filter
from billecta_sync.lime.values import TEXT_PROPERTY_TYPES, blank_text_nulls
from billecta_sync.ratelimit import RateLimiter
from billecta_sync.settings import LimeSettings

__all__ = ["LimeClient", "OnLimeRequest"]

log = logging.getLogger(__name__)

# (method, operation name, full URL, body) - called before every HTTP attempt.
OnLimeRequest = Callable[[str, str, str, object], None]

_SCHEMA_FAILURE_TTL_S = 60.0  # after a failed schema fetch, try again at most once a minute


def _q(segment: object) -> str:
    return quote(str(segment), safe="")


def _list_in(data: Any, *keys: str) -> list[Any]:
    """The list in an answer that may be bare, HAL (``_embedded``) or wrapped under a known key."""
    if isinstance(data, list):
        return data
    if not isinstance(data, dict):
        return []
    embedded = data.get("_embedded")
    if isinstance(embedded, dict):
        for key in keys:
            if isinstance(embedded.get(key), list):
                return embedded[key]
        for value in embedded.values():
            if isinstance(value, list):
                return value
    for key in keys:
        if isinstance(data.get(key), list):
            return data[key]
    return []


class LimeClient:
    """One keep-alive session to one Lime application."""

    backoff_initial_s: float = 0.5
    # LimeSettings has no cap of its own; the same bound as Billecta's default keeps a worker from
    # parking for minutes on one Retry-After header.
    retry_after_cap_s: float = 30.0

    def __init__(
        self,
        settings: LimeSettings,
        rate_limiter: RateLimiter | None = None,
        session: requests.Session | None = None,
        on_request: OnLimeRequest | None = None,
    ) -> None:
        self.settings = settings
        self._base_url = settings.base_url.rstrip("/") + "/"
        self._rate_limiter = rate_limiter
        # A session per thread (billecta_sync.httpsessions): a thread-pool worker shares this client.
        self._sessions = ThreadSessions(session)
        self._on_request = on_request
        self._headers = {"X-API-Key": settings.api_key.get(), "Accept": "application/hal+json"}
        self._limetypes: dict[str, dict[str, Any]] = {}
        self._all_limetypes: list[dict[str, Any]] | None = None
        self._schema_failed_at: dict[str, float] = {}

    # --- plumbing -----------------------------------------------------------------------------------

    @property
    def _session(self) -> requests.Session:
        return self._sessions.get()

    def close(self) -> None:
        self._sessions.close()

    def __enter__(self) -> LimeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        # Absolute and root-relative hrefs (from _links) resolve against the base; plain paths append.
        url = urljoin(self._base_url, path) if path.startswith(("http://", "https://", "/")) else self._base_url + path
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        if clean:
            url += ("&" if "?" in url else "?") + urlencode(clean, doseq=True)
        return url

    def _request(
        self,
        method: str,
        operation: str,
        url: str,
        *,
        json_body: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        send_headers = dict(self._headers)
        payload = data
        if json_body is not None:
            payload = json.dumps(json_body, default=str).encode("utf-8")
            send_headers["Content-Type"] = "application/json"
        if headers:
            send_headers.update(headers)
        policy = retrying(
            max_attempts=self.settings.max_attempts,
            is_retryable=retryable,
            cap_s=self.retry_after_cap_s,
            initial_s=self.backoff_initial_s,
            logger=log,
            what=f"Lime {operation}",
        )
        for attempt in policy:
            with attempt:
                return self._send(method, operation, url, payload, send_headers,
                                  json_body if json_body is not None else data)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    def _send(self, method: str, operation: str, url: str, payload: bytes | None,
              headers: dict[str, str], body: object) -> requests.Response:
        if self._rate_limiter is not None:
            # Per attempt, not per call: Lime counts every HTTP request, retries included.
            self._rate_limiter.acquire()
        if self._on_request is not None:
            self._on_request(method, operation, url, body)
        loggable = url[len(self._base_url) - 1:] if url.startswith(self._base_url) else url
        started = time.monotonic()
        try:
            resp = self._session.request(method, url, data=payload, headers=headers,
                                         timeout=self.settings.timeout_s)
        except (requests.ConnectionError, requests.Timeout) as exc:
            log.debug("lime %s %s -> %s (%.0f ms)", method, loggable, type(exc).__name__,
                      (time.monotonic() - started) * 1000)
            metrics.outbound("lime", operation, type(exc).__name__)
            kind = "timed out" if isinstance(exc, requests.Timeout) else "could not connect"
            raise LimeConnectionError(f"Lime {operation} {kind}: {exc}") from exc
        except requests.RequestException as exc:
            raise LimeApiError(f"Lime {operation} failed: {exc}") from exc
        log.debug("lime %s %s -> %s (%.0f ms)", method, loggable, resp.status_code,
                  (time.monotonic() - started) * 1000)
        metrics.outbound("lime", operation, resp.status_code)
        if not 200 <= resp.status_code < 300:
            raise error_from_response(resp, f"Lime {operation}")
        return resp

    @staticmethod
    def _json(resp: requests.Response) -> Any:
        if not resp.content or not resp.content.strip():
            return None
        try:
            return resp.json()
        except ValueError:
            raise LimeApiError(f"Lime answered {resp.status_code} with a non-JSON body",
                               resp.status_code, resp.text[:2000]) from None

    def _call(self, method: str, operation: str, path: str, *, params: Mapping[str, Any] | None = None,
              json_body: Any = None) -> Any:
        return self._json(self._request(method, operation, self._url(path, params), json_body=json_body))

    # --- health -------------------------------------------------------------------------------------

    def ping(self) -> None:
        """Raise ``LimeApiError`` unless the API answers the key with a 2xx."""
        self._request("GET", "ping", self._base_url)

    # --- limeobjects --------------------------------------------------------------------------------

    def get(self, limetype: str, id: int) -> dict[str, Any]:
        """One object; raises ``LimeNotFound``."""
        return self._call("GET", "limeobject.get", f"limeobject/{_q(limetype)}/{_q(id)}/") or {}

    def get_or_none(self, limetype: str, id: int) -> dict[str, Any] | None:
        try:
            return self.get(limetype, id)
        except LimeNotFound:
            return None

    def create(self, limetype: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Create an object; returns it as Lime stored it, including ``_id``."""
        body = self._prepare_values(limetype, values)
        return self._call("POST", "limeobject.create", f"limeobject/{_q(limetype)}/", json_body=body) or {}

    def update(self, limetype: str, id: int, values: Mapping[str, Any]) -> dict[str, Any]:
        """Partial update: only the given properties change."""
        body = self._prepare_values(limetype, values)
        return self._call("PUT", "limeobject.update", f"limeobject/{_q(limetype)}/{_q(id)}/",
                          json_body=body) or {}

    def delete(self, limetype: str, id: int) -> None:
        self._call("DELETE", "limeobject.delete", f"limeobject/{_q(limetype)}/{_q(id)}/")

    def iter_list(self, limetype: str, filters: Mapping[str, Any] | None = None, limit: int = 100,
                  embed: Iterable[str] = ()) -> Iterator[dict[str, Any]]:
        """Every object of the list endpoint, following ``_links.next`` page by page."""
        params: dict[str, Any] = {"_limit": limit}
        params.update(filters or {})
        embeds = list(embed)
        if embeds:
            params["_embed"] = embeds
        url: str | None = self._url(f"limeobject/{_q(limetype)}/", params)
        seen: set[str] = set()
        while url:
            seen.add(url)
            page = self._json(self._request("GET", "limeobject.list", url)) or {}
            yield from _list_in(page, "limeobjects")
            href = ((page.get("_links") or {}).get("next") or {}).get("href") if isinstance(page, dict) else None
            url = self._url(href) if href else None
            if url in seen:
                # A server repeating its own page would otherwise loop forever.
                raise LimeApiError(f"Lime list of {limetype} links back to a page already read: {url}")

    # --- query API ----------------------------------------------------------------------------------

    def query(
        self,
        limetype: str,
        properties: list[str] | dict[str, Any],
        filter: dict[str, Any] | None = None,
        order_by: list[Any] | None = None,
        limit: int | None = None,
        page_size: int = 200,
    ) -> Iterator[dict[str, Any]]:
        """Objects matching ``filter`` with the requested properties, paged by offset."""
        if filter is not None:
            validate_filter(filter)
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        shape = dict(properties) if isinstance(properties, dict) else {p: "" for p in properties}
        base: dict[str, Any] = {
            "limetype": limetype,
            "responseFormat": {"object": shape},
            # A stable order is what makes offset paging return each row once.
            "orderBy": order_by if order_by is not None else [{"_id": "ASC"}],
        }
        if filter is not None:
            base["filter"] = filter
        offset = 0
        yielded = 0
        while limit is None or yielded < limit:
            size = page_size if limit is None else min(page_size, limit - yielded)
            q = {**base, "limit": size, "offset": offset}
            answer = self._call("GET", "query", "query/", params={"q": json.dumps(q, separators=(",", ":"))})
            rows = _list_in(answer, "objects")
            yield from rows
            yielded += len(rows)
            offset += len(rows)
            if len(rows) < size:
                return

    def query_ids(self, limetype: str, filter: dict[str, Any] | None) -> list[int]:
        return [int(row["_id"]) for row in self.query(limetype, ["_id"], filter) if row.get("_id") is not None]

    # --- limetypes (schema) -------------------------------------------------------------------------

    def limetype(self, name: str) -> dict[str, Any]:
        """One limetype with its properties; cached for the life of the client."""
        cached = self._limetypes.get(name)
        if cached is None:
            cached = self._call("GET", "limetype.get", f"limetype/{_q(name)}/", params={"_embed": "properties"}) or {}
            self._limetypes[name] = cached
        return cached

    def limetypes(self) -> list[dict[str, Any]]:
        """All limetypes with their properties; cached for the life of the client."""
        if self._all_limetypes is None:
            answer = self._call("GET", "limetype.list", "limetype/", params={"_embed": "limetypes.properties"})
            self._all_limetypes = _list_in(answer, "limetypes")
            for item in self._all_limetypes:
                if isinstance(item, dict) and item.get("name"):
                    self._limetypes.setdefault(str(item["name"]), item)
        return self._all_limetypes

    @staticmethod
    def property_types(limetype_doc: Mapping[str, Any]) -> dict[str, str]:
        """Property name -> Lime type from a limetype document (HAL list or a plain mapping)."""
        props: Any = _list_in(limetype_doc, "properties")
        if not props and isinstance(limetype_doc.get("properties"), dict):
            props = [{"name": k, **(v if isinstance(v, dict) else {"type": v})}
                     for k, v in limetype_doc["properties"].items()]
        return {str(p["name"]): str(p.get("type", "")) for p in props if isinstance(p, dict) and p.get("name")}

    def _text_properties(self, limetype: str) -> set[str] | None:
        failed = self._schema_failed_at.get(limetype)
        if failed is not None and time.monotonic() - failed < _SCHEMA_FAILURE_TTL_S:
            return None
        try:
            doc = self.limetype(limetype)
        except LimeApiError as exc:
            # Without the schema we cannot know which nulls to blank; send the values as given.
            self._schema_failed_at[limetype] = time.monotonic()
            log.warning("could not read Lime limetype %s (%s); sending values unchanged", limetype, exc)
            return None
        return {name for name, kind in self.property_types(doc).items() if kind in TEXT_PROPERTY_TYPES}

    def _prepare_values(self, limetype: str, values: Mapping[str, Any]) -> dict[str, Any]:
        if not any(v is None for v in values.values()):
            return dict(values)  # nothing to blank: skip the schema lookup
        text = self._text_properties(limetype)
        return dict(values) if text is None else blank_text_nulls(values, text)

    # --- files --------------------------------------------------------------------------------------

    def upload_file(self, filename: str, content: bytes, content_type: str) -> dict[str, Any]:
        """Store a file; returns its metadata including ``id`` (set that on a file property)."""
        headers = {
            "Content-Type": content_type,
            # RFC 5987 form so non-ASCII names (å, ä, ö) survive.
            "Content-Disposition": f";filename*=\"UTF-8''{quote(filename, safe='')}\"",
        }
        resp = self._request("POST", "file.upload", self._url("file/"), data=content, headers=headers)
        return self._json(resp) or {}

    def file_info(self, file_id: int) -> dict[str, Any]:
        """File metadata: filename, size, content_type, extension, ..."""
        return self._call("GET", "file.get", f"file/{_q(file_id)}/") or {}

    def download_file(self, file_id: int) -> tuple[bytes, str]:
        """The file's bytes and content type (the name is in ``file_info``)."""
        resp = self._request("GET", "file.contents", self._url(f"file/{_q(file_id)}/contents/"),
                             headers={"Accept": "*/*"})
        return resp.content, resp.headers.get("Content-Type", "application/octet-stream")

    # --- webhook subscriptions ----------------------------------------------------------------------

    def list_subscriptions(self) -> list[dict[str, Any]]:
        return _list_in(self._call("GET", "subscription.list", "subscription/"), "subscriptions", "items")

    def create_subscription(self, events: list[str], target_url: str, secret: str | None = None,
                            name: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"events": list(events), "target_url": target_url}
        if secret is not None:
            body["secret"] = secret
        if name is not None:
            body["name"] = name
        return self._call("POST", "subscription.create", "subscription/", json_body=body) or {}

    def delete_subscription(self, id: int | str) -> None:
        self._call("DELETE", "subscription.delete", f"subscription/{_q(id)}/")
