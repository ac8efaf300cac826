"""Reading a request: its headers as counted for the limit, and as a stored webhook keeps them (credentials
redacted)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, request
from werkzeug.datastructures import EnvironHeaders

from billecta_sync import inbox
from webhook_gateway.body import header_count, stored_headers


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


@pytest.mark.parametrize("environ", [
    {"HTTP_HOST": "x", "HTTP_X_API_KEY": "k", "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "2"},
    {"HTTP_HOST": "x", "CONTENT_TYPE": "", "CONTENT_LENGTH": "", "REQUEST_METHOD": "GET", "wsgi.input": None},
    {"HTTP_CONTENT_TYPE": "text/plain", "HTTP_CONTENT_LENGTH": "4", "CONTENT_TYPE": "text/plain", "PATH_INFO": "/"},
    {},
])
def test_the_header_count_is_the_number_of_headers_flask_sees(environ: dict[str, Any]) -> None:
    assert header_count(environ) == len(EnvironHeaders(environ))
