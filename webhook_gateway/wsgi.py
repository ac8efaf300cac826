"""WSGI entry point: ``gunicorn webhook_gateway.wsgi:app``."""

from __future__ import annotations

from billecta_sync.logs import configure_logging
from billecta_sync.settings import get_settings
from webhook_gateway import create_app

_settings = get_settings()
# gunicorn leaves the root logger without handlers, which would drop the access and warning lines. One
# write per access line cost as much as the rest of logging it: lines go out in batches of at most
# LOG_BATCH_INTERVAL_S (warnings and errors at once).
LOG_BATCH_INTERVAL_S = 0.2
configure_logging(_settings.log_level, batch_interval_s=LOG_BATCH_INTERVAL_S)

app = create_app(_settings)
