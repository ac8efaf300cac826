"""LimeClient against a scripted HTTP server: paging, query API, text nulls, rate limiting, retries."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask, Response, request

from billecta_sync.lime import LimeBadRequest, LimeClient, LimeNotFound, LimeRateLimited, LimeServerError
from billecta_sync.lime.errors import LimeApiError
from billecta_sync.lime.query import eq, in_
from billecta_sync.settings import LimeSettings, Secret

API_KEY = "lime-api-key-0123456789abcdef"
APP = "/acme/api/v1/"


@dataclass
class Seen:
    method: str
    path: str
    args: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float

    def q(self) -> dict[str, Any]:
        return json.loads(self.args["q"][0])


Reply = tuple[int, Any, dict[str, str]]


@dataclass
class Script:
    replies: deque[Reply | Callable[[Seen], Reply]] = field(default_factory=deque)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def push(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        self.replies.append((status, body, headers or {}))

    def push_fn(self, fn: Callable[[Seen], Reply]) -> None:
        self.replies.append(fn)


class ScriptedLime:
    def __init__(self) -> None:
        self.script = Script()
        app = Flask("scripted-lime")
        app.add_url_rule("/<path:path>", "answer", self._answer, methods=["GET", "POST", "PUT", "DELETE"])
        self._server, self.root = serve(app)
        self.base_url = self.root + APP

    def _answer(self, path: str) -> Response:
        seen = Seen(request.method, "/" + path, request.args.to_dict(flat=False), dict(request.headers),
                    request.get_data(), time.monotonic())
        with self.script.lock:
            self.script.seen.append(seen)
            reply = self.script.replies.popleft() if self.script.replies else (500, {"message": "unscripted"}, {})
        status, body, headers = reply(seen) if callable(reply) else reply
        if isinstance(body, bytes):
            return Response(body, status=status, headers=headers)
        data = b"" if body is None else json.dumps(body).encode()
        return Response(data, status=status, headers=headers, content_type="application/hal+json")

    def shutdown(self) -> None:
        self._server.shutdown()


def serve(app: Flask) -> tuple[Any, str]:
    from sandbox.common import serve_in_thread

    return serve_in_thread(app)


class CountingLimiter:
    def __init__(self) -> None:
        self.acquired = 0

    def acquire(self, timeout_s: float = 60) -> None:
        self.acquired += 1

    def try_acquire(self) -> float:
        self.acquired += 1
        return 0.0


@pytest.fixture(scope="module")
def server() -> Iterator[ScriptedLime]:
    srv = ScriptedLime()
    yield srv
    srv.shutdown()


@pytest.fixture
def script(server: ScriptedLime) -> Script:
    server.script = Script()
    return server.script


@pytest.fixture
def limiter() -> CountingLimiter:
    return CountingLimiter()


def make_client(server: ScriptedLime, limiter: Any = None, max_attempts: int = 4) -> LimeClient:
    settings = LimeSettings(base_url=server.base_url, api_key=Secret(API_KEY), timeout_s=5.0,
                            max_attempts=max_attempts)
    client = LimeClient(settings, rate_limiter=limiter)
    client.backoff_initial_s = 0.01
    return client


@pytest.fixture
def client(server: ScriptedLime, limiter: CountingLimiter) -> Iterator[LimeClient]:
    c = make_client(server, limiter)
    yield c
    c.close()


def page(rows: list[dict[str, Any]], next_href: str | None) -> dict[str, Any]:
    links: dict[str, Any] = {"self": {"href": "x"}}
    if next_href:
        links["next"] = {"href": next_href}
    return {"_embedded": {"limeobjects": rows}, "_links": links}


def test_iter_list_follows_next_links(server: ScriptedLime, script: Script, client: LimeClient,
                                      limiter: CountingLimiter) -> None:
    script.push(200, page([{"_id": 1}, {"_id": 2}], "limeobject/company/?_limit=2&_offset=2"))
    script.push(200, page([{"_id": 3}, {"_id": 4}], APP + "limeobject/company/?_limit=2&_offset=4"))
    script.push(200, page([{"_id": 5}], None))
    rows = list(client.iter_list("company", {"city": "Lund"}, limit=2, embed=("coworker", "person")))
    assert [r["_id"] for r in rows] == [1, 2, 3, 4, 5]
    first = script.seen[0]
    assert first.path == APP + "limeobject/company/"
    assert first.args == {"_limit": ["2"], "city": ["Lund"], "_embed": ["coworker", "person"]}
    assert [(s.path, s.args.get("_offset")) for s in script.seen[1:]] == [
        (APP + "limeobject/company/", ["2"]),
        (APP + "limeobject/company/", ["4"]),
    ]
    assert limiter.acquired == 3


def test_iter_list_accepts_absolute_next_href(server: ScriptedLime, script: Script, client: LimeClient) -> None:
    script.push(200, page([{"_id": 1}], server.base_url + "limeobject/deal/?_offset=1"))
    script.push(200, page([{"_id": 2}], None))
    assert [r["_id"] for r in client.iter_list("deal")] == [1, 2]
    assert script.seen[1].args == {"_offset": ["1"]}


def test_iter_list_stops_on_a_link_loop(script: Script, client: LimeClient) -> None:
    script.push(200, page([{"_id": 1}], "limeobject/deal/?_offset=1"))
    script.push(200, page([{"_id": 2}], "limeobject/deal/?_offset=1"))
    with pytest.raises(LimeApiError, match="already read"):
        list(client.iter_list("deal"))


def test_query_pages_by_offset_until_a_short_page(script: Script, client: LimeClient) -> None:
    rows = [{"_id": i, "name": f"n{i}"} for i in range(1, 6)]
    script.push(200, {"objects": rows[0:2]})
    script.push(200, {"objects": rows[2:4]})
    script.push(200, {"objects": rows[4:5]})
    script.push(500, {"message": "must not be asked"})
    result = list(client.query("company", ["_id", "name"], filter=eq("city", "Lund"), page_size=2))
    assert [r["_id"] for r in result] == [1, 2, 3, 4, 5]
    assert len(script.seen) == 3
    queries = [s.q() for s in script.seen]
    assert [(q["offset"], q["limit"]) for q in queries] == [(0, 2), (2, 2), (4, 2)]
    assert queries[0] == {
        "limetype": "company",
        "responseFormat": {"object": {"_id": "", "name": ""}},
        "orderBy": [{"_id": "ASC"}],
        "filter": {"key": "city", "op": "=", "exp": "Lund"},
        "limit": 2,
        "offset": 0,
    }
    assert script.seen[0].path == APP + "query/"


def test_query_exact_multiple_needs_one_empty_page_and_limit_caps(script: Script, client: LimeClient) -> None:
    script.push(200, {"objects": [{"_id": 1}, {"_id": 2}]})
    script.push(200, {"objects": []})
    assert [r["_id"] for r in client.query("deal", ["_id"], page_size=2)] == [1, 2]
    assert len(script.seen) == 2
    script.push(200, {"objects": [{"_id": 1}, {"_id": 2}]})
    script.push(200, {"objects": [{"_id": 3}]})
    assert [r["_id"] for r in client.query("deal", ["_id"], limit=3, page_size=2)] == [1, 2, 3]
    assert [s.q()["limit"] for s in script.seen[2:]] == [2, 1]
    assert len(script.seen) == 4


def test_query_rejects_malformed_filter_before_sending(script: Script, client: LimeClient) -> None:
    with pytest.raises(ValueError, match="not an operator"):
        list(client.query("deal", ["_id"], filter={"key": "x", "op": "LIKE", "exp": 1}))
    assert script.seen == []


def test_query_ids(script: Script, client: LimeClient) -> None:
    script.push(200, {"objects": [{"_id": 7}, {"_id": 9}]})
    assert client.query_ids("invoice", in_("_id", [7, 9, 11])) == [7, 9]
    assert script.seen[0].q()["responseFormat"] == {"object": {"_id": ""}}


SCHEMA = {
    "name": "debtor",
    "_embedded": {"properties": [
        {"name": "name", "type": "string"},
        {"name": "notes", "type": "text"},
        {"name": "phone", "type": "phone"},
        {"name": "amount", "type": "decimal"},
        {"name": "company", "type": "belongsto"},
        {"name": "debtortype", "type": "option"},
    ]},
}


def test_create_and_update_blank_null_text(script: Script, client: LimeClient) -> None:
    script.push(200, SCHEMA)
    script.push(201, {"_id": 1001, "name": "", "notes": ""})
    script.push(200, {"_id": 1001})
    created = client.create("debtor", {"name": None, "notes": None, "phone": None, "amount": None,
                                       "company": None, "debtortype": "company"})
    assert created["_id"] == 1001
    client.update("debtor", 1001, {"notes": None, "company": 5})
    schema_req, create_req, update_req = script.seen
    assert (schema_req.method, schema_req.path) == ("GET", APP + "limetype/debtor/")
    assert (create_req.method, create_req.path) == ("POST", APP + "limeobject/debtor/")
    assert json.loads(create_req.body) == {"name": "", "notes": "", "phone": "", "amount": None, "company": None,
                                           "debtortype": "company"}
    assert (update_req.method, update_req.path) == ("PUT", APP + "limeobject/debtor/1001/")
    assert json.loads(update_req.body) == {"notes": "", "company": 5}
    assert create_req.headers["Content-Type"] == "application/json"


def test_schema_failure_leaves_values_as_given(script: Script, client: LimeClient,
                                               caplog: pytest.LogCaptureFixture) -> None:
    script.push(403, {"message": "forbidden"})
    script.push(201, {"_id": 5})
    client.create("debtor", {"name": None})
    assert json.loads(script.seen[1].body) == {"name": None}
    assert "could not read Lime limetype debtor" in caplog.text


def test_no_schema_lookup_without_nulls(script: Script, client: LimeClient) -> None:
    script.push(201, {"_id": 5})
    client.create("debtor", {"name": "Kund AB"})
    assert [s.path for s in script.seen] == [APP + "limeobject/debtor/"]


def test_rate_limiter_once_per_request_including_retries(script: Script, client: LimeClient,
                                                         limiter: CountingLimiter) -> None:
    script.push(200, {"_id": 1})
    script.push(503, {"message": "busy"})
    script.push(200, {"_id": 2})
    script.push(204, None)
    client.get("company", 1)
    client.get("company", 2)
    client.delete("company", 2)
    assert len(script.seen) == 4
    assert limiter.acquired == 4


def test_retry_after_on_429_is_honoured(script: Script, client: LimeClient) -> None:
    script.push(429, {"message": "Too many requests"}, {"Retry-After": "1"})
    script.push(200, {"_id": 1})
    assert client.get("company", 1) == {"_id": 1}
    gap = script.seen[1].at - script.seen[0].at
    assert 0.95 <= gap < 3.0


def test_errors_are_typed_and_4xx_not_retried(server: ScriptedLime, script: Script) -> None:
    client = make_client(server, max_attempts=2)
    script.push(404, {"message": "Not found"})
    with pytest.raises(LimeNotFound):
        client.get("company", 404)
    script.push(404, None)
    assert client.get_or_none("company", 405) is None
    script.push(400, {"error": "Property 'nmae' does not exist"})
    with pytest.raises(LimeBadRequest, match="nmae") as info:
        client.update("company", 1, {"nmae": "x"})
    assert info.value.status_code == 400
    assert len(script.seen) == 3
    script.push(500, "boom")
    script.push(500, "boom")
    with pytest.raises(LimeServerError, match="boom"):
        client.get("company", 1)
    script.push(429, {"message": "slow"}, {"Retry-After": "0"})
    script.push(429, {"message": "slow"}, {"Retry-After": "0"})
    with pytest.raises(LimeRateLimited) as limited:
        client.get("company", 1)
    assert limited.value.retry_after_s == 0.0
    assert len(script.seen) == 7


def test_headers_and_key_never_logged(script: Script, client: LimeClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    script.push(200, {"_links": {}})
    script.push(200, {"_id": 1})
    client.ping()
    client.get("company", 1)
    for seen in script.seen:
        assert seen.headers["X-Api-Key"] == API_KEY
        assert seen.headers["Accept"] == "application/hal+json"
    assert [s.path for s in script.seen] == [APP, APP + "limeobject/company/1/"]
    # Paths are logged relative to the configured base URL.
    assert "lime GET / -> 200" in caplog.text
    assert "lime GET /limeobject/company/1/ -> 200" in caplog.text
    assert API_KEY not in caplog.text


def test_limetypes_are_cached(script: Script, client: LimeClient) -> None:
    script.push(200, {"_embedded": {"limetypes": [SCHEMA, {"name": "company", "_embedded": {"properties": []}}]}})
    assert [t["name"] for t in client.limetypes()] == ["debtor", "company"]
    assert client.limetypes()[0]["name"] == "debtor"
    assert client.limetype("company")["name"] == "company"
    assert len(script.seen) == 1
    assert script.seen[0].args == {"_embed": ["limetypes.properties"]}
    assert LimeClient.property_types(SCHEMA)["notes"] == "text"


def test_upload_and_download_file(script: Script, client: LimeClient) -> None:
    script.push(201, {"id": 77, "filename": "Faktura åäö.pdf"})
    info = client.upload_file("Faktura åäö.pdf", b"%PDF-1.4 data", "application/pdf")
    assert info["id"] == 77
    upload = script.seen[0]
    assert (upload.method, upload.path, upload.body) == ("POST", APP + "file/", b"%PDF-1.4 data")
    assert upload.headers["Content-Type"] == "application/pdf"
    assert upload.headers["Content-Disposition"] == ";filename*=\"UTF-8''Faktura%20%C3%A5%C3%A4%C3%B6.pdf\""
    script.push(200, b"%PDF-1.4 data", {"Content-Type": "application/pdf"})
    assert client.download_file(77) == (b"%PDF-1.4 data", "application/pdf")
    assert script.seen[1].path == APP + "file/77/contents/"


def test_subscriptions(script: Script, client: LimeClient) -> None:
    script.push(200, [{"id": 3, "events": ["order.new"], "target_url": "https://x/hook", "enabled": True}])
    assert client.list_subscriptions()[0]["id"] == 3
    script.push(201, {"id": 4})
    assert client.create_subscription(["order.new", "order.update"], "https://x/hook", secret="s3cr3t",
                                      name="billecta-sync") == {"id": 4}
    assert json.loads(script.seen[1].body) == {"events": ["order.new", "order.update"],
                                               "target_url": "https://x/hook", "secret": "s3cr3t",
                                               "name": "billecta-sync"}
    script.push(204, None)
    client.delete_subscription(4)
    assert [(s.method, s.path) for s in script.seen] == [
        ("GET", APP + "subscription/"), ("POST", APP + "subscription/"), ("DELETE", APP + "subscription/4/"),
    ]
