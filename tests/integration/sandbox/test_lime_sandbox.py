"""The Lime sandbox over real HTTP: the same wire contract production code sees."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from flask import Flask, request

from sandbox.common import serve_in_thread
from sandbox.lime.app import LimeSandboxConfig, create_app
from sandbox.lime.datamodel import DATA_MODEL

KEY = "dev-lime-key"
H = {"X-API-Key": KEY}


@dataclass
class Lime:
    root: str  # http://host:port
    api: str  # .../lime/api/v1/
    session: requests.Session

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.session.get(self.api + path, headers=H, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        return self.session.post(self.api + path, json=body, headers=H, **kw)

    def put(self, path: str, body: Any) -> requests.Response:
        return self.session.put(self.api + path, json=body, headers=H)

    def delete(self, path: str) -> requests.Response:
        return self.session.delete(self.api + path, headers=H)

    def create(self, limetype: str, **values: Any) -> dict[str, Any]:
        resp = self.post(f"limeobject/{limetype}/", values)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def admin(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.session.request(method, f"{self.root}/_sandbox/{path}", **kw)

    def query(self, spec: dict[str, Any]) -> requests.Response:
        return self.post("query/", spec)


@pytest.fixture(scope="module")
def server() -> Iterator[Lime]:
    config = LimeSandboxConfig(database_url="sqlite:///:memory:", webhook_backoff_s=0.05, webhook_timeout_s=5)
    srv, root = serve_in_thread(create_app(config))
    with requests.Session() as session:
        yield Lime(root, f"{root}/lime/api/v1/", session)
    srv.shutdown()


@pytest.fixture
def lime(server: Lime) -> Lime:
    assert server.admin("POST", "reset").json() == {"reset": True}
    defaults = {"latency_ms": 0, "error_rate": 0, "rate_limit_per_s": 0, "rate_limit_burst": 0, "timeout_rate": 0}
    assert server.admin("POST", "config", json=defaults).status_code == 200
    return server


@dataclass
class Receiver:
    url: str
    hits: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def payloads(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(body) for _headers, body in self.hits]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    app = Flask("lime-webhook-receiver")
    rec = Receiver(url="")

    @app.post("/hook")
    def hook() -> tuple[str, int]:
        with rec.lock:
            rec.hits.append((dict(request.headers), request.get_data()))
        return "", 204

    srv, root = serve_in_thread(app)
    rec.url = f"{root}/hook"
    yield rec
    srv.shutdown()


def _wait_idle(lime: Lime) -> None:
    resp = lime.admin("POST", "webhooks/wait-idle", params={"timeout": 10})
    assert resp.status_code == 200, resp.text
    assert resp.json()["idle"] is True


# --- auth and errors ---------------------------------------------------------------------------------


def test_api_key_is_required_and_header_name_is_case_insensitive(lime: Lime) -> None:
    missing = requests.get(lime.api)
    assert missing.status_code == 401
    assert missing.json()["code"] == 401 and "X-API-Key" in missing.json()["error"]
    wrong = requests.get(lime.api, headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid API key"
    ok = requests.get(lime.api, headers={"x-api-key": KEY})
    assert ok.status_code == 200
    assert ok.json()["application"] == "lime"
    # The admin API needs no key.
    assert requests.get(f"{lime.root}/_sandbox/health").json()["status"] == "ok"


# --- limeobject CRUD -----------------------------------------------------------------------------------


def test_crud_round_trip_with_options_and_relations(lime: Lime) -> None:
    company = lime.create("company", name="Acme AB", orgno="556000-0001")
    debtor = lime.create("debtor", name="Acme", debtortype="private", company=company["_id"], countrycode="SE")
    assert debtor["debtortype"] == {"id": debtor["debtortype"]["id"], "key": "private", "text": "Private"}
    assert isinstance(debtor["debtortype"]["id"], int)
    assert debtor["company"] == company["_id"]
    assert debtor["person"] is None
    assert debtor["email"] == ""  # omitted text defaults to "", never null
    assert debtor["_descriptive"] == "Acme"
    assert debtor["_timestamp"].endswith("+00:00")
    assert debtor["_links"]["self"]["href"].endswith(f"/limeobject/debtor/{debtor['_id']}/")
    assert debtor["_links"]["relation_company"]["href"].endswith(f"/limeobject/debtor/{debtor['_id']}/company/")

    # Partial update; an option can also be written back as the object read from the API.
    updated = lime.put(f"limeobject/debtor/{debtor['_id']}/", {"email": "a@acme.se", "debtortype": {"key": "company"}})
    assert updated.status_code == 200
    assert updated.json()["email"] == "a@acme.se"
    assert updated.json()["debtortype"]["key"] == "company"
    assert updated.json()["name"] == "Acme"
    assert updated.json()["_timestamp"] > debtor["_timestamp"]

    # No trailing slash works too.
    fetched = lime.get(f"limeobject/debtor/{debtor['_id']}")
    assert fetched.status_code == 200 and fetched.json()["email"] == "a@acme.se"
    related = lime.get(f"limeobject/debtor/{debtor['_id']}/company/")
    assert related.json()["name"] == "Acme AB"

    gone = lime.delete(f"limeobject/debtor/{debtor['_id']}/")
    assert gone.status_code == 204 and gone.content == b""
    missing = lime.get(f"limeobject/debtor/{debtor['_id']}/")
    assert missing.status_code == 404 and missing.json()["code"] == 404


def test_typed_values_round_trip(lime: Lime) -> None:
    invoice = lime.create(
        "invoice",
        invoicenumber="1001",
        invoicedate="2024-03-01",
        invoice_expires="2024-03-31",
        invoicedamount=1250.5,
        isdisputed=True,
        invoicestatus="sent",
    )
    assert invoice["invoicedate"] == "2024-03-01"
    assert invoice["invoice_expires"] == "2024-03-31"
    assert invoice["invoicedamount"] == 1250.5
    assert invoice["isdisputed"] is True and invoice["ispaused"] is False
    assert invoice["invoicestatus"]["key"] == "sent"
    assert invoice["creditinvoice"] is None
    credit = lime.create("invoice", invoicenumber="1002", creditinvoice=invoice["_id"])
    assert credit["creditinvoice"] == invoice["_id"]


def test_null_text_is_rejected_and_nothing_is_written(lime: Lime) -> None:
    resp = lime.post("limeobject/company/", {"name": None})
    assert resp.status_code == 400
    assert resp.json()["code"] == 400 and "company.name" in resp.json()["error"]
    listed = lime.get("limeobject/company/").json()
    assert listed["_embedded"]["limeobjects"] == []

    company = lime.create("company", name="Kept")
    resp = lime.put(f"limeobject/company/{company['_id']}/", {"city": None, "name": "Changed"})
    assert resp.status_code == 400
    assert lime.get(f"limeobject/company/{company['_id']}/").json()["name"] == "Kept"


@pytest.mark.parametrize(
    ("limetype", "body", "needle"),
    [
        ("company", {"name": "x", "colour": "red"}, "company.colour"),
        ("debtor", {"debtortype": "alien"}, "alien"),
        ("debtor", {"company": 999}, "company 999 does not exist"),
        ("invoice", {"invoicedamount": "12.5"}, "invoice.invoicedamount"),
        ("invoice", {"invoicedate": "2024/01/01"}, "YYYY-MM-DD"),
        ("invoice", {"isdisputed": "yes"}, "invoice.isdisputed"),
        ("invoice", {"invoice_pdf": 4242}, "file 4242 does not exist"),
        ("order", {"paymenttermsindays": 1.5}, "order.paymenttermsindays"),
        ("starship", {"name": "x"}, "starship"),
    ],
)
def test_invalid_writes_answer_400_naming_the_problem(lime: Lime, limetype: str, body: dict, needle: str) -> None:
    resp = lime.post(f"limeobject/{limetype}/", body)
    assert resp.status_code == 400, resp.text
    assert needle in resp.json()["error"]


def test_delete_clears_relations_pointing_at_the_object(lime: Lime) -> None:
    company = lime.create("company", name="Parent")
    person = lime.create("person", firstname="Ann", lastname="Berg", company=company["_id"])
    assert lime.delete(f"limeobject/company/{company['_id']}/").status_code == 204
    assert lime.get(f"limeobject/person/{person['_id']}/").json()["company"] is None


# --- listing ---------------------------------------------------------------------------------------------


def test_list_paging_by_following_next_returns_every_row_once(lime: Lime) -> None:
    bulk = lime.admin("POST", "bulk/company", json=[{"name": f"C{i:02d}"} for i in range(23)]).json()
    assert bulk["count"] == 23 and bulk["last_id"] - bulk["first_id"] == 22

    first = lime.get("limeobject/company/").json()
    assert len(first["_embedded"]["limeobjects"]) == 10  # default page size

    seen: list[int] = []
    url: str | None = lime.api + "limeobject/company/?_limit=5"
    pages = 0
    while url:
        page = lime.session.get(url, headers=H).json()
        seen.extend(obj["_id"] for obj in page["_embedded"]["limeobjects"])
        url = page["_links"].get("next", {}).get("href")
        pages += 1
    assert pages == 5
    assert seen == list(range(bulk["first_id"], bulk["last_id"] + 1))

    exact = lime.get("limeobject/company/", params={"_limit": 23}).json()
    assert "next" not in exact["_links"]
    assert lime.get("limeobject/company/", params={"_limit": 501}).status_code == 400


def test_list_filters_sorting_and_embed(lime: Lime) -> None:
    d1 = lime.create("debtor", name="One")
    d2 = lime.create("debtor", name="Two")
    rows = [
        {"invoicenumber": "1", "debtor": d1["_id"], "invoicestatus": "paid", "invoicedamount": 100.0,
         "invoice_expires": "2024-01-10"},
        {"invoicenumber": "2", "debtor": d1["_id"], "invoicestatus": "sent", "invoicedamount": 250.0,
         "invoice_expires": "2024-01-20"},
        {"invoicenumber": "3", "debtor": d2["_id"], "invoicestatus": "sent", "invoicedamount": 400.0,
         "invoice_expires": "2024-01-30"},
        {"invoicenumber": "4", "debtor": d2["_id"], "invoicestatus": "expired", "invoicedamount": 50.0,
         "invoice_expires": "2024-02-05"},
    ]
    assert lime.admin("POST", "bulk/invoice", json=rows).status_code == 201

    def numbers(**params: Any) -> list[str]:
        resp = lime.get("limeobject/invoice/", params=params)
        assert resp.status_code == 200, resp.text
        return [o["invoicenumber"] for o in resp.json()["_embedded"]["limeobjects"]]

    assert numbers(invoicestatus="sent") == ["2", "3"]
    assert numbers(debtor=d2["_id"]) == ["3", "4"]
    assert numbers(**{"min-invoicedamount": 100, "max-invoicedamount": 250}) == ["1", "2"]
    assert numbers(**{"max-invoice_expires": "2024-01-20"}) == ["1", "2"]
    assert numbers(invoicestatus="sent", **{"min-invoice_expires": "2024-01-21"}) == ["3"]
    assert numbers(_sort="-invoicedamount") == ["3", "2", "1", "4"]
    assert lime.get("limeobject/invoice/", params={"invoicestatus": "bogus"}).status_code == 400
    assert lime.get("limeobject/invoice/", params={"nosuchprop": "1"}).status_code == 400

    embedded = lime.get("limeobject/invoice/", params={"_embed": "debtor", "invoicenumber": "3"}).json()
    (obj,) = embedded["_embedded"]["limeobjects"]
    assert obj["_embedded"]["relation_debtor"]["name"] == "Two"


# --- query API ---------------------------------------------------------------------------------------------


def _seed_invoices(lime: Lime) -> dict[str, int]:
    creditor = lime.create("creditor", name="Cred AB")
    debtors = {name: lime.create("debtor", name=name)["_id"] for name in ("Alfa", "Beta", "Gamma")}
    rows = [
        ("A1", "Alfa", "sent", 100.0, "2024-05-01"),
        ("A2", "Alfa", "paid", 200.0, "2024-05-02"),
        ("B1", "Beta", "sent", 300.0, "2024-05-03"),
        ("B2", "Beta", "expired", 400.0, "2024-05-04"),
        ("G1", "Gamma", "created", 500.0, "2024-05-05"),
    ]
    lime.admin(
        "POST",
        "bulk/invoice",
        json=[
            {"invoicenumber": n, "debtor": debtors[d], "creditor": creditor["_id"], "invoicestatus": s,
             "invoicedamount": a, "invoice_expires": e}
            for n, d, s, a, e in rows
        ],
    ).raise_for_status()
    return debtors


def test_query_api_filters_translate_to_sql(lime: Lime) -> None:
    debtors = _seed_invoices(lime)
    fmt = {"object": {"_id": "", "invoicenumber": ""}}

    def run(filter_: dict[str, Any], **extra: Any) -> list[str]:
        resp = lime.query({"limetype": "invoice", "responseFormat": fmt, "filter": filter_, **extra})
        assert resp.status_code == 200, resp.text
        return [o["invoicenumber"] for o in resp.json()["objects"]]

    assert run({"key": "invoicestatus", "op": "=", "exp": "sent"}) == ["A1", "B1"]
    assert run({"key": "invoicestatus", "op": "IN", "exp": ["paid", "expired"]}) == ["A2", "B2"]
    assert run({"key": "invoicedamount", "op": "<", "exp": 300}) == ["A1", "A2"]
    assert run({"key": "invoice_expires", "op": ">=", "exp": "2024-05-04"}) == ["B2", "G1"]
    assert run({"key": "invoicestatus", "op": "!", "exp": "sent"}) == ["A2", "B2", "G1"]
    assert run({"key": "invoicenumber", "op": "=?", "exp": "b"}) == ["B1", "B2"]
    assert run({"key": "debtor.name", "op": "?", "exp": "amm"}) == ["G1"]
    assert run({"key": "debtor", "op": "=", "exp": debtors["Beta"]}) == ["B1", "B2"]
    both = {
        "op": "AND",
        "exp": [
            {"key": "invoicedamount", "op": ">", "exp": 100},
            {"op": "OR", "exp": [
                {"key": "invoicestatus", "op": "=", "exp": "sent"},
                {"key": "invoicestatus", "op": "=", "exp": "created"},
            ]},
        ],
    }
    assert run(both) == ["B1", "G1"]
    assert run(both, orderBy=[{"invoicedamount": "DESC"}]) == ["G1", "B1"]
    ids = [o["_id"] for o in lime.query({"limetype": "invoice", "responseFormat": fmt}).json()["objects"]]
    assert run({"key": "id", "op": "IN", "exp": ids[:2]}) == ["A1", "A2"]
    assert run({"key": "_id", "op": "=", "exp": ids[4]}) == ["G1"]
    assert run({}, limit=2, offset=1) == ["A2", "B1"]


def test_query_api_shapes_and_errors(lime: Lime) -> None:
    _seed_invoices(lime)
    spec = {
        "limetype": "invoice",
        "responseFormat": {"object": {"_id": "", "invoicestatus": "", "debtor": {"name": ""}, "creditor": ""}},
        "filter": {"key": "invoicenumber", "op": "=", "exp": "B2"},
    }
    via_get = lime.get("query/", params={"q": json.dumps(spec)})
    via_post = lime.query(spec)
    assert via_get.status_code == 200 and via_get.json() == via_post.json()
    (obj,) = via_post.json()["objects"]
    assert obj["invoicestatus"] == {"key": "expired", "text": "Expired"}
    assert obj["debtor"] == {"name": "Beta"}
    assert isinstance(obj["creditor"], int)

    bad = [
        {"limetype": "invoice", "limit": 1001},
        {"limetype": "nope"},
        {"limetype": "invoice", "filter": {"key": "invoicestatus", "op": "~", "exp": "x"}},
        {"limetype": "invoice", "filter": {"key": "ghost", "op": "=", "exp": "x"}},
        {"limetype": "invoice", "responseFormat": {"object": {"ghost": ""}}},
        {"limetype": "invoice", "filter": {"key": "invoicestatus", "op": "=", "exp": "unknown-key"}},
    ]
    for query in bad:
        resp = lime.query(query)
        assert resp.status_code == 400, (query, resp.text)
        assert resp.json()["code"] == 400
    assert lime.get("query/", params={"q": "{not json"}).status_code == 400


# --- limetype API ---------------------------------------------------------------------------------------------


def test_limetype_api_lists_the_data_model(lime: Lime) -> None:
    listed = lime.get("limetype/").json()["_embedded"]["limetypes"]
    assert [lt["name"] for lt in listed] == list(DATA_MODEL)
    assert {lt["name"] for lt in listed} == {
        "creditor", "company", "person", "debtor", "creditordebtor", "article", "creditorarticle", "order",
        "orderrow", "invoice", "invoicerow", "payment", "debtcollection", "document",
        "integration_monitor", "integration_monitor_batch", "integration_monitor_log",
    }
    invoice = lime.get("limetype/invoice/").json()
    props = {p["name"]: p for p in invoice["_embedded"]["properties"]}
    assert [o["key"] for o in props["invoicestatus"]["options"]] == [
        "created", "attested", "sent", "subpaid", "paid", "expired", "credited", "cancelled", "debtcollection",
    ]
    assert props["creditinvoice"]["type"] == "belongsto"
    assert props["creditinvoice"]["_links"]["related_type"]["name"] == "invoice"
    assert props["invoice_expires"]["type"] == "date"
    assert props["invoicedamount"]["type"] == "decimal"
    assert props["invoice_pdf"]["type"] == "file"
    assert props["billecta_error_message"]["type"] == "text"
    assert lime.get("limetype/nope/").status_code == 404


# --- file API ---------------------------------------------------------------------------------------------------


def test_file_upload_and_download_round_trip(lime: Lime) -> None:
    content = b"%PDF-1.4 fake invoice \x00\xff"
    name = "Faktura 1001 åäö.pdf"
    resp = lime.session.post(
        lime.api + "file/",
        data=content,
        headers={
            **H,
            "Content-Type": "application/pdf",
            "Content-Disposition": ";filename*=\"UTF-8''" + requests.utils.quote(name) + '"',
        },
    )
    assert resp.status_code == 201, resp.text
    meta = resp.json()
    assert meta["filename"] == name
    assert meta["size"] == len(content)
    assert meta["content_type"] == "application/pdf"
    assert meta["extension"] == "pdf"
    assert lime.get(f"file/{meta['id']}/").json()["filename"] == name

    download = lime.get(f"file/{meta['id']}/contents/")
    assert download.status_code == 200
    assert download.content == content
    assert download.headers["Content-Type"] == "application/pdf"
    assert requests.utils.quote(name, safe="") in download.headers["Content-Disposition"]

    invoice = lime.create("invoice", invoicenumber="9", invoice_pdf=meta["id"])
    assert invoice["invoice_pdf"] == meta["id"]
    assert lime.get("file/999/").status_code == 404
    no_name = lime.session.post(lime.api + "file/", data=b"x", headers=H)
    assert no_name.status_code == 400


# --- subscriptions and webhooks -------------------------------------------------------------------------------


def test_subscription_crud(lime: Lime, receiver: Receiver) -> None:
    available = lime.get("subscription/available/").json()
    assert len(available) == 4 * len(DATA_MODEL)
    assert {"order.new", "order.update", "order.delete", "order.restore"} <= set(available)

    created = lime.post("subscription/", {"events": ["order.new"], "target_url": receiver.url, "name": "sync"})
    assert created.status_code == 201
    sub = created.json()
    assert sub["events"] == ["order.new"] and sub["enabled"] is True and sub["name"] == "sync"
    assert "secret" not in sub

    listed = lime.get("subscription/", params={"events": "order.new", "target_url": receiver.url}).json()
    assert [s["id"] for s in listed] == [sub["id"]]
    assert lime.get("subscription/", params={"events": "invoice.new"}).json() == []

    changed = lime.put(f"subscription/{sub['id']}/", {"enabled": False, "events": ["order.new", "order.delete"]})
    assert changed.json()["enabled"] is False and changed.json()["events"] == ["order.new", "order.delete"]
    assert lime.post("subscription/", {"events": ["order.explode"], "target_url": receiver.url}).status_code == 400
    assert lime.post("subscription/", {"events": ["order.new"], "target_url": "ftp://x"}).status_code == 400

    assert lime.delete(f"subscription/{sub['id']}/").status_code == 204
    assert lime.get(f"subscription/{sub['id']}/").status_code == 404


def test_signed_webhooks_for_create_update_delete(lime: Lime, receiver: Receiver) -> None:
    secret = "s3cret"
    events = ["order.new", "order.update", "order.delete"]
    lime.post("subscription/", {"events": events, "target_url": receiver.url, "secret": secret}).raise_for_status()
    with receiver.lock:
        receiver.hits.clear()

    creditor = lime.create("creditor", name="Cred")  # no subscription for creditor: no webhook
    order = lime.create("order", creditor=creditor["_id"], ourreference="Ann")
    updated = lime.put(f"limeobject/order/{order['_id']}/", {"orderstatus": "attested", "message": "Hej"}).json()
    _wait_idle(lime)

    with receiver.lock:
        hits = list(receiver.hits)
    assert len(hits) == 2
    for headers, raw in hits:
        expected = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Lime-Signature"], expected)
    new, update = (json.loads(raw) for _h, raw in hits)

    assert new["event"] == "order.new"
    assert new["body"]["id"] == order["_id"] and new["body"]["limetype"] == "order"
    values = new["body"]["values"]
    assert values["id"] == order["_id"]
    assert values["orderstatus"] == "created"  # bare option key in webhooks
    assert values["creditor"] == creditor["_id"]
    assert values["ourreference"] == "Ann"
    assert values["timestamp"] == order["_timestamp"]
    assert "_id" not in values and "_timestamp" not in values
    assert "original_values" not in new["body"]

    assert update["event"] == "order.update"
    assert update["body"]["values"]["orderstatus"] == "attested"
    assert update["body"]["values"]["message"] == "Hej"
    assert update["body"]["values"]["timestamp"] == updated["_timestamp"]
    assert update["body"]["original_values"] == {"orderstatus": "created", "message": ""}

    # Writing the same values again changes nothing: no webhook and no new timestamp.
    same = lime.put(f"limeobject/order/{order['_id']}/", {"orderstatus": "attested", "message": "Hej"}).json()
    assert same["_timestamp"] == updated["_timestamp"]
    _wait_idle(lime)
    assert len(receiver.payloads()) == 2

    assert lime.delete(f"limeobject/order/{order['_id']}/").status_code == 204
    _wait_idle(lime)
    payloads = receiver.payloads()
    assert len(payloads) == 3
    assert payloads[2]["event"] == "order.delete"
    assert payloads[2]["body"]["values"]["orderstatus"] == "attested"

    history = lime.admin("GET", "webhooks", params={"status": "delivered"}).json()
    assert [d["event"] for d in history["deliveries"]] == ["order.new", "order.update", "order.delete"]


def test_disabled_subscription_and_unsigned_delivery(lime: Lime, receiver: Receiver) -> None:
    on = lime.post("subscription/", {"events": ["company.new"], "target_url": receiver.url}).json()
    off = lime.post("subscription/", {"events": ["company.new"], "target_url": receiver.url, "enabled": False}).json()
    assert on["enabled"] is True and off["enabled"] is False
    with receiver.lock:
        receiver.hits.clear()
    lime.create("company", name="Quiet")
    _wait_idle(lime)
    with receiver.lock:
        hits = list(receiver.hits)
    assert len(hits) == 1
    assert "X-Lime-Signature" not in hits[0][0]
    assert json.loads(hits[0][1])["body"]["values"]["name"] == "Quiet"


# --- knobs, stats, bulk -------------------------------------------------------------------------------------------


def test_rate_limit_knob_answers_429_with_retry_after(lime: Lime) -> None:
    bad = lime.admin("POST", "config", json={"no_such_knob": 1})
    assert bad.status_code == 400 and "no_such_knob" in bad.json()["error"]
    set_ = lime.admin("POST", "config", json={"rate_limit_per_s": 0.5, "rate_limit_burst": 1, "retry_after_s": 7})
    assert set_.json()["knobs"]["rate_limit_per_s"] == 0.5
    answers = [lime.get("limetype/company/") for _ in range(3)]
    assert answers[0].status_code == 200
    limited = [r for r in answers if r.status_code == 429]
    assert len(limited) == 2
    assert limited[0].headers["Retry-After"] == "7"
    assert limited[0].json()["code"] == 429
    # The admin API is never limited.
    assert lime.admin("GET", "health").status_code == 200
    assert lime.admin("GET", "stats").json()["by_status"]["429"] == 2


def test_stats_count_requests_by_kind(lime: Lime) -> None:
    lime.admin("POST", "stats/reset")
    company = lime.create("company", name="S")
    lime.get(f"limeobject/company/{company['_id']}/")
    lime.get("limeobject/company/")
    lime.put(f"limeobject/company/{company['_id']}/", {"name": "T"})
    lime.query({"limetype": "company"})
    lime.delete(f"limeobject/company/{company['_id']}/")
    stats = lime.admin("GET", "stats").json()
    assert stats["total"] == 6
    assert stats["by_kind"] == {"create": 1, "get": 1, "list": 1, "update": 1, "query": 1, "delete": 1}
    assert stats["by_method"] == {"POST": 2, "GET": 2, "PUT": 1, "DELETE": 1}
    assert stats["by_limetype_kind"]["company list"] == 1
    assert lime.admin("POST", "stats/reset").json()["total"] == 0


def test_bulk_insert_of_20000_rows_then_query(lime: Lime) -> None:
    debtor = lime.create("debtor", name="Bulk")
    statuses = ["created", "sent", "paid", "expired"]
    rows = [
        {
            "debtor": debtor["_id"],
            "actionpublicid": f"ap-{i}",
            "invoicestatus": statuses[i % 4],
            "invoicedamount": float(i % 1000),
            "invoice_expires": f"2024-{1 + i % 12:02d}-15",
        }
        for i in range(20_000)
    ]
    lime.admin("POST", "webhooks/wait-idle")
    resp = lime.admin("POST", "bulk/invoice", json=rows)
    assert resp.status_code == 201, resp.text
    result = resp.json()
    assert result["count"] == 20_000 and result["last_id"] - result["first_id"] == 19_999
    assert lime.admin("GET", "webhooks").json()["count"] == 0  # bulk never fires webhooks

    expected = [i for i in range(20_000) if i % 4 == 2 and i % 1000 >= 900 and 1 + i % 12 <= 6]
    filter_ = {
        "op": "AND",
        "exp": [
            {"key": "invoicestatus", "op": "=", "exp": "paid"},
            {"key": "invoicedamount", "op": ">=", "exp": 900},
            {"key": "invoice_expires", "op": "<", "exp": "2024-07-01"},
        ],
    }
    got: list[str] = []
    offset = 0
    while True:
        page = lime.query({
            "limetype": "invoice",
            "responseFormat": {"object": {"actionpublicid": ""}, "aggregates": {"n": {"op": "COUNT", "key": "_id"}}},
            "filter": filter_,
            "limit": 100,
            "offset": offset,
        }).json()
        assert page["aggregates"]["n"] == len(expected)
        got.extend(o["actionpublicid"] for o in page["objects"])
        if len(page["objects"]) < 100:
            break
        offset += 100
    assert got == [f"ap-{i}" for i in expected]

    one = lime.query({
        "limetype": "invoice",
        "responseFormat": {"object": {"_id": "", "invoicestatus": ""}},
        "filter": {"key": "actionpublicid", "op": "=", "exp": "ap-12345"},
    }).json()["objects"]
    assert one == [{"_id": result["first_id"] + 12345, "invoicestatus": {"key": "sent", "text": "Sent"}}]

    bad = lime.admin("POST", "bulk/invoice", json=[{"invoicestatus": "nope"}])
    assert bad.status_code == 400 and "row 0" in bad.json()["error"]


def test_file_database_in_wal_mode_handles_concurrent_writers(tmp_path: Any) -> None:
    db = tmp_path / "lime.db"
    app = create_app(LimeSandboxConfig(database_url=f"sqlite:///{db}"))
    srv, root = serve_in_thread(app)
    api = f"{root}/lime/api/v1/"
    errors: list[str] = []
    ids: list[int] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        with requests.Session() as session:
            for i in range(20):
                resp = session.post(api + "limeobject/company/", json={"name": f"w{n}-{i}"}, headers=H)
                with lock:
                    if resp.status_code == 201:
                        ids.append(resp.json()["_id"])
                    else:
                        errors.append(resp.text)
                session.get(api + "limeobject/company/", headers=H, params={"_limit": 5})

    try:
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert sorted(ids) == list(range(1, 161))
        with app.extensions["lime_sandbox"].store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        srv.shutdown()
        app.extensions["lime_sandbox"].store.close()
