"""Authentication: ``POST /v1/authentication/apiauthenticate`` hands out the configured SecureToken.

Every other ``/v1`` request is checked against the accepted Authorization headers by the app itself.
"""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta

from flask import request

from sandbox.billecta.extension import Host
from sandbox.billecta.routing import Reply, Route
from sandbox.billecta.state.core import BillectaError, iso, now


def register(host: Host) -> None:
    def api_authenticate(_body: None) -> Reply:
        header = request.headers.get("Authorization", "")
        tokens = [a for a in host.config.accepted_authorizations if a.startswith("SecureToken ")]
        if header.startswith("SecureToken "):
            tokens = [header]
        if not tokens:
            raise BillectaError(400, "The sandbox has no SecureToken configured to hand out")
        try:
            token = base64.b64decode(tokens[0].removeprefix("SecureToken ").strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise BillectaError(500, "Configured SecureToken is not valid base64") from exc
        return 200, {"Value": token, "Expires": iso(now() + timedelta(days=365))}

    host.add_routes(
        Route("api_authenticate", "POST", "/v1/authentication/apiauthenticate", api_authenticate,
              None, "SecureTokenView", "V", "notes 1.2"),
    )
