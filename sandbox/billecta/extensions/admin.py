"""The sandbox's own admin endpoints: health, reset, settings and fault knobs, the route table, the request
log and statistics (all under ``/_sandbox``, no authentication)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from flask import Response, jsonify, request

from sandbox.billecta.config import checked_update
from sandbox.billecta.extension import Host
from sandbox.billecta.routing import error_response


def apply_config(host: Host, values: Mapping[str, Any]) -> None:
    """Validate every setting first, then apply them all (so a bad request changes nothing)."""
    knob_values, settings = checked_update(host.config, values)
    # The Knobs object is shared with the FaultInjector, so it is updated in place.
    host.config.knobs.update(knob_values)
    for name, value in settings.items():
        setattr(host.config, name, value)
    config, sender = host.config, host.sender
    sender.max_attempts = config.webhook_max_attempts
    sender.backoff_s = config.webhook_backoff_s
    sender.backoff_max_s = config.webhook_backoff_max_s
    sender.timeout_s = config.webhook_timeout_s
    if {"rate_limit_per_s", "rate_limit_burst"} & set(knob_values):
        host.faults.bucket.reset(config.knobs.rate_limit_per_s, config.knobs.rate_limit_burst)


def register(host: Host) -> None:
    store, sender, faults, requests = host.store, host.sender, host.faults, host.requests

    def health() -> Response:
        return jsonify({"status": "ok", "service": "billecta-sandbox", "entities": store.counts()})

    def reset() -> Response:
        store.reset()
        sender.clear()
        requests.clear()
        # FaultInjector has no reset; swapping in a zeroed dict is atomic for its readers.
        faults.counters = dict.fromkeys(faults.counters, 0)
        faults.bucket.reset(host.config.knobs.rate_limit_per_s, host.config.knobs.rate_limit_burst)
        return jsonify({"reset": True})

    def config() -> Response:
        if request.method == "POST":
            values = request.get_json(force=True, silent=True)
            if not isinstance(values, dict):
                return error_response(400, "Send a JSON object of settings")
            try:
                apply_config(host, values)
            except (ValueError, TypeError) as exc:
                return error_response(400, str(exc))
        return jsonify(host.config.as_dict())

    def routes() -> Response:
        # The default listing is frozen (tests and docs rely on it); ?all=true adds every served route with
        # its provenance, including those never listed (the money after attest, the collection controls).
        if request.args.get("all", "").lower() in ("1", "true", "yes"):
            return jsonify([{**r.listing(), "listed": r.listed} for r in host.routes()])
        return jsonify([r.listing() for r in host.routes() if r.listed])

    def request_log() -> Response:
        entries = requests.entries()
        route = request.args.get("route")
        method = request.args.get("method")
        if route:
            entries = [e for e in entries if e["route"] == route]
        if method:
            entries = [e for e in entries if e["method"] == method.upper()]
        try:
            limit = int(request.args.get("limit", "0"))
        except ValueError:
            return error_response(400, "limit must be an integer")
        if limit > 0:
            entries = entries[-limit:]
        return jsonify({"requests": entries})

    def stats() -> Response:
        counters = requests.counters()
        deliveries = Counter(d.status for d in sender.deliveries())
        return jsonify(
            {
                "requests_by_route": counters["by_route"],
                "responses_by_status": counters["by_status"],
                "faults": faults.snapshot(),
                "webhooks": {s: deliveries.get(s, 0) for s in ("pending", "delivered", "failed")},
                "entities": store.counts(),
            }
        )

    host.add_admin("/_sandbox/health", "health", health, ["GET"])
    host.add_admin("/_sandbox/reset", "reset", reset)
    host.add_admin("/_sandbox/config", "config", config, ["GET", "POST"])
    host.add_admin("/_sandbox/routes", "routes", routes, ["GET"])
    host.add_admin("/_sandbox/requests", "requests", request_log, ["GET"])
    host.add_admin("/_sandbox/stats", "stats", stats, ["GET"])
