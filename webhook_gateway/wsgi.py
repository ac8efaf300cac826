"""WSGI entry point: ``gunicorn webhook_gateway.wsgi:app``."""

from __future__ import annotations

from billecta_sync.logs import configure_logging
from billecta_sync.settings import get_settings
from webhook_gateway import create_app

_settings = get_settings()
# gunicorn leaves the root logger without handlers, which would drop the access and warning lines.
configure_logging(_settings.log_level)

app = create_app(_settings)
