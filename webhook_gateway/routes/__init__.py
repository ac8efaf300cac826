"""The gateway's blueprints; ``register`` mounts them with the configured prefix."""

from __future__ import annotations

from flask import Flask, Response

from billecta_sync.settings import Settings

#: the media type jsonify gives an answer
_JSON = "application/json"


def stored_webhook_answer(status: str, inbox_id: int) -> Response:
    """What a webhook receiver answers once the delivery is stored: the bytes ``jsonify(status=...,
    inbox_id=...)`` writes, formatted here (``status`` is one of the inbox's plain status names) — jsonify's
    encoder cost a webhook more than its parsing."""
    return Response(f'{{"status":"{status}","inbox_id":{int(inbox_id)}}}\n', status=200, mimetype=_JSON)


def register(app: Flask, settings: Settings) -> None:
    from webhook_gateway.routes import billecta_webhooks, commands, health, lime_webhooks, operator

    prefix = settings.gateway.prefix or None
    app.register_blueprint(health.bp)
    app.register_blueprint(billecta_webhooks.bp, url_prefix=prefix)
    app.register_blueprint(commands.bp, url_prefix=prefix)
    app.register_blueprint(operator.bp, url_prefix=prefix)
    app.register_blueprint(lime_webhooks.bp, url_prefix=prefix)
    from webhook_gateway.console import bp as console

    app.register_blueprint(console, url_prefix=prefix)
