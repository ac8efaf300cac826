"""The gateway's blueprints; ``register`` mounts them with the configured prefix."""

from __future__ import annotations

from flask import Flask

from billecta_sync.settings import Settings


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
