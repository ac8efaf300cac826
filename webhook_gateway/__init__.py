"""The webhook gateway: a thin Flask app that authenticates, validates and enqueues.

It never calls Billecta and holds no Billecta credentials: every request becomes a database row
and/or a task published by name, and the workers do the work.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from celery import Celery
from flask import Flask, Request
from flask.sessions import SecureCookieSessionInterface, SessionMixin

from billecta_sync.db import Database
from billecta_sync.queueing import TaskFailed, TaskQueue
from billecta_sync.settings import Settings, get_settings
from webhook_gateway import limits, requestlog
from webhook_gateway.context import EXTENSION_KEY, Gateway
from webhook_gateway.errors import register_error_handlers
from webhook_gateway.openapi import build_openapi

__all__ = ["Gateway", "TaskFailed", "create_app"]


def create_app(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    celery: Celery | None = None,
    redis_client: Any | None = None,
    publisher: TaskQueue | None = None,
) -> Flask:
    """Build the gateway app; every collaborator not given is built from ``settings``.

    ``publisher`` wins over ``celery``; without it, a ``GatewayPublisher`` is made over ``celery`` (or over a
    publisher-only Celery app), which puts webhook jobs on Redis directly.
    """
    settings = settings or get_settings()
    if publisher is None:
        from taskqueue import CeleryTaskQueue, make_celery
        from webhook_gateway.publisher import GatewayPublisher

        publisher = GatewayPublisher(CeleryTaskQueue(celery or make_celery(settings)))

    app = Flask(__name__, static_folder=None)
    # Werkzeug refuses larger bodies as they are read, for every route (the routes check as well).
    app.config["MAX_CONTENT_LENGTH"] = settings.gateway.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the documented field order
    _configure_sessions(app, settings)
    app.extensions[EXTENSION_KEY] = Gateway(
        settings=settings,
        db=db or Database(settings.database_url, timeout_s=settings.gateway.db_timeout_s),
        publisher=publisher,
        redis_client=redis_client,
    )

    register_error_handlers(app)
    requestlog.install(app)
    limits.install(app)
    from webhook_gateway import routes

    routes.register(app, settings)
    build_openapi(app, settings)  # fails now, not on first request, if a route lacks its description
    return app


def _configure_sessions(app: Flask, settings: Settings) -> None:
    """The operator console's signed session cookie (the JSON API never sets one)."""
    secret = settings.gateway.session_secret
    # Production refuses to start without one (settings); in development a drawn secret only means that
    # console sessions end with the process.
    app.secret_key = secret.get() if secret is not None else secrets.token_urlsafe(32)
    app.config.update(
        SESSION_COOKIE_NAME="billecta_console",
        SESSION_COOKIE_PATH=f"{settings.gateway.prefix}/console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Secure off in development only, so the console works over the local http:// stack.
        SESSION_COOKIE_SECURE=settings.production,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
    )
    app.session_interface = ConsoleSessions()


class ConsoleSessions(SecureCookieSessionInterface):
    """Sessions for the console only: every other request gets the empty null session at once.

    Browsers send the cookie only below its path, so elsewhere there is nothing to read; Flask would still
    build a signing serializer and look for the cookie on every webhook.
    """

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        if not (request.root_path + request.path).startswith(self.get_cookie_path(app)):
            return self.make_null_session(app)
        return super().open_session(app, request)
