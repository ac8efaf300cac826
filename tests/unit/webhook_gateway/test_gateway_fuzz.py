"""Schemathesis against the gateway, in-process: every operation of its own OpenAPI document is fuzzed with
schema-valid and schema-violating requests, and every answer must be documented.

The document is loaded from a gateway app over WSGI (``/openapi.json`` touches no database); each case is
then sent to the ``app`` fixture (a real SQLite database, the recording fake publisher, no broker) with the
key of each scope the operation lists in ``security``. The fake publisher's waits time out, so interactive
commands answer their documented 202 (queued) or 504 (event log: no answer in time).

Checks: no server error (504 excepted, see above), status codes, content types, headers and bodies as
documented, and schema-violating requests rejected. ``positive_data_acceptance`` is left out on purpose:
a schema-valid query filter is still refused (400) when its values do not fit the property's type, which
JSON Schema cannot say per property.

A fixed seed and no example database keep runs repeatable; ``MAX_EXAMPLES`` keeps the module well under a
minute on two cores (raise it locally to fuzz harder: ``FUZZ_MAX_EXAMPLES=200``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import fakeredis
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from schemathesis import checks

from billecta_sync.settings import load_settings
from tests.unit.webhook_gateway.conftest import COMMANDS_KEY, OPERATOR_KEY, WEBHOOK_KEY, RecordingPublisher, base_env
from webhook_gateway import create_app

SEED = 20_260_101
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))
KEYS = {"webhook": WEBHOOK_KEY, "commands": COMMANDS_KEY, "operator": OPERATOR_KEY}
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]
CONFIG = schemathesis.Config.from_dict({
    "seed": SEED,
    "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
    "checks": {
        # The event log's documented "no answer in time": the fake worker never answers.
        "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "504"]},
        # A schema-violating body may also be refused for its size (a 10 001-value IN list is over 1 MiB).
        "negative_data_rejection": {"expected-statuses": ["400", "401", "403", "404", "405", "413", "415", "422",
                                                          "431"]},
    },
})


def _document_app() -> Flask:
    # Only /openapi.json is asked of this app: its database is never opened, its publisher never used.
    settings_ = load_settings(env=base_env(Path(tempfile.gettempdir()) / "gateway-fuzz-doc"))
    return create_app(settings_, publisher=RecordingPublisher(), redis_client=fakeredis.FakeRedis())


schema = schemathesis.openapi.from_wsgi("/openapi.json", _document_app(), config=CONFIG)


def scopes_of(operation: Any) -> list[str]:
    """The scopes an operation's ``security`` lists (``commandsApiKey``/``commandsBearer`` -> commands)."""
    security = operation.definition.raw.get("security") or []
    return sorted({name.removesuffix("ApiKey").removesuffix("Bearer") for entry in security for name in entry})


def test_the_fuzzed_document_is_the_one_the_app_under_test_serves(client: FlaskClient) -> None:
    assert client.get("/openapi.json").get_json() == schema.raw_schema


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
def test_gateway_answers_as_documented(case: Any, app: Flask) -> None:
    # One app (and database) per operation, shared by its examples: rows written by one example are
    # just more data for the next.
    for scope in scopes_of(case.operation) or [None]:
        headers = {"X-API-Key": KEYS[scope]} if scope else {}
        case.call_and_validate(app=app, headers=headers, checks=CHECKS)
