"""docs/endpoints.md: every gateway endpoint with its scope, body and answers, built from the OpenAPI
document (so from the same ``Doc`` entries as the routes themselves); a test keeps the file equal."""

from __future__ import annotations

from typing import Any

from flask import Flask

from billecta_sync.settings import Settings, load_settings
from webhook_gateway.openapi import SCHEMAS, build_openapi

HEADER = (
    "# Gateway endpoints\n\n"
    "Generated from the gateway's OpenAPI document (`GET /openapi.json`) by `billecta-sync docs endpoints`; a "
    "test keeps this file equal to the routes. Paths use the default prefix. Scopes are API keys sent as "
    "`X-API-Key` (or `Authorization: Bearer`): **webhook** (`GATEWAY_API_KEYS_WEBHOOK`), **commands** "
    "(`GATEWAY_API_KEYS_COMMANDS`), **operator** (`GATEWAY_API_KEYS_OPERATOR`). A key of another scope gets "
    "403, none or an unknown one 401. The Lime webhook receiver takes no key: it checks `X-Lime-Signature` "
    "(HMAC-SHA256 of the raw body with `LIME_WEBHOOK_SECRET`). Bodies are JSON; `*` marks a required field.\n\n"
)
_DOC_ENV = {
    "BILLECTA_SYNC_ENV": "development",  # placeholder keys: only the routes are read
    "BILLECTA_API_BASE_URL": "https://apitest.billecta.com/v1",
    "BILLECTA_API_AUTHENTICATION": "SecureToken ZG9j",
    "LIME_BASE_URL": "https://example.lime-crm.com/example/api/v1/",
    "LIME_API_KEY": "doc",
    "GATEWAY_API_KEYS_WEBHOOK": "doc-webhook",
    "GATEWAY_API_KEYS_COMMANDS": "doc-commands",
    "GATEWAY_API_KEYS_OPERATOR": "doc-operator",
    "BILLECTA_SYNC_CONFIG": "",
}


def _schema(node: Any) -> dict[str, Any]:
    if isinstance(node, dict) and "$ref" in node:
        return SCHEMAS[str(node["$ref"]).rsplit("/", 1)[-1]]
    return node if isinstance(node, dict) else {}


def _body(op: dict[str, Any]) -> str:
    content = (op.get("requestBody") or {}).get("content") or {}
    schema = _schema((content.get("application/json") or {}).get("schema"))
    props = schema.get("properties") or {}
    if not props:
        return schema.get("description", "JSON object") if schema else "-"
    required = set(schema.get("required") or ())
    return ", ".join(f"`{name}`{'*' if name in required else ''}" for name in props)


def _scopes(op: dict[str, Any]) -> str:
    scopes = sorted({name.removesuffix("ApiKey").removesuffix("Bearer")
                     for entry in op.get("security") or [] for name in entry})
    return ", ".join(scopes) if scopes else "none"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def endpoints_markdown(settings: Settings | None = None) -> str:
    from webhook_gateway.routes import register

    settings = settings or load_settings(env=_DOC_ENV)
    app = Flask("endpoints-doc", static_folder=None)
    register(app, settings)
    doc = build_openapi(app, settings)
    lines = ["| endpoint | scope | body | answers |", "|---|---|---|---|"]
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            if op.get("security"):
                # 401/403 are the same for every scoped endpoint (see above).
                answers = {k: v for k, v in op["responses"].items() if k not in ("401", "403")}
            else:
                answers = op["responses"]
            answer_text = "; ".join(f"{status} {resp['description']}" for status, resp in answers.items())
            lines.append(f"| `{method.upper()} {path}` — {_cell(op.get('summary', ''))} | {_scopes(op)} | "
                         f"{_cell(_body(op))} | {_cell(answer_text)} |")
    return HEADER + "\n".join(lines) + "\n"
