"""The operator console: server-rendered pages over the service's own tables (no JavaScript needed).

Mounted at ``{prefix}/console/``. Signing in takes an operator key and gives a signed session cookie
(``security``); every page is read-only except the replay, which goes through ``inbound.delivery`` like
the CLI and the JSON operator API, after a dry-run count and a confirmation, and leaves a ``ReplayAudit``
row. The pages are left out of the OpenAPI document (``Doc(internal=True)``): they are for people.
"""

from __future__ import annotations

from webhook_gateway.console.views import bp

__all__ = ["bp"]
