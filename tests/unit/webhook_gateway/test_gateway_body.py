"""Reading a request: the headers a stored webhook keeps are the request's, with credentials redacted."""

from __future__ import annotations

from flask import Flask, request

from billecta_sync import inbox
from webhook_gateway.body import stored_headers


def test_stored_headers_are_flasks_headers_with_credentials_redacted() -> None:
    app = Flask(__name__)
    sent = {"Authorization": "Bearer k", "X-Gateway-Key": "k2", "X-Lime-Signature": "s", "X-Trace": "t-1",
            "Content-Type": "application/json", "User-Agent": "Billecta"}
    with app.test_request_context("/hook", method="POST", data=b"{}", headers=sent):
        request.environ["HTTP_CONTENT_LENGTH"] = "2"  # as some servers pass it twice; not a header of its own
        secret = inbox.secret_header_names(["X-Gateway-Key"])
        stored = stored_headers(secret)
        assert stored == inbox.redact_headers(dict(request.headers), extra_secret=["X-Gateway-Key"])
    assert stored["X-Trace"] == "t-1" and stored["Content-Type"] == "application/json"
    assert stored["Content-Length"] == "2"
    assert {stored[name] for name in ("Authorization", "X-Gateway-Key", "X-Lime-Signature")} == {inbox.REDACTED}


def test_an_empty_content_type_is_not_a_header() -> None:
    app = Flask(__name__)
    with app.test_request_context("/hook", method="GET"):
        request.environ["CONTENT_TYPE"] = ""
        assert "Content-Type" not in stored_headers(inbox.secret_header_names())
        assert stored_headers(inbox.secret_header_names()) == dict(request.headers)
