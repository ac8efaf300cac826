"""Serve the Billecta sandbox: ``python -m sandbox.billecta --port 8100 [options]``.

One process with a threaded server, because all state lives in memory. Options override the
``BILLECTA_SANDBOX_*`` environment variables, which override the defaults.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from werkzeug.serving import make_server

from sandbox.billecta.app import create_app
from sandbox.billecta.config import PAYLOAD_STYLES, SWISH_OUTCOMES, BillectaSandboxConfig, parse_headers


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox.billecta", description="Billecta API v1 sandbox")
    parser.add_argument("--host", default=os.environ.get("BILLECTA_SANDBOX_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("BILLECTA_SANDBOX_PORT", "8100")))
    parser.add_argument(
        "--authorization",
        action="append",
        metavar="VALUE",
        help="accepted Authorization header value (repeatable; replaces the default)",
    )
    parser.add_argument("--webhook-url")
    parser.add_argument(
        "--webhook-header",
        action="append",
        metavar="'Name: value'",
        help="static header sent with every webhook (repeatable)",
    )
    parser.add_argument("--webhook-style", choices=PAYLOAD_STYLES)
    parser.add_argument("--webhook-triggers", metavar="A,B,...", help="trigger types to send")
    parser.add_argument("--webhook-max-attempts", type=int)
    parser.add_argument("--webhook-backoff-s", type=float)
    parser.add_argument("--webhook-backoff-max-s", type=float)
    parser.add_argument("--webhook-timeout-s", type=float)
    parser.add_argument("--auto-send-delay-s", type=float, help="attest -> InvoiceSent delay; negative = never")
    parser.add_argument("--swish-delay-s", type=float, help="Swish request -> its ending; negative = admin call only")
    parser.add_argument("--swish-outcome", choices=SWISH_OUTCOMES, help="how new Swish requests end")
    parser.add_argument("--stall-after-routes", metavar="A,B,...",
                        help="route names that are applied, then answered only after --stall-after-s (lost answer)")
    parser.add_argument("--stall-after-s", type=float)
    parser.add_argument(
        "--no-validate-responses",
        action="store_true",
        help="skip checking the sandbox's own answers against the contract (benchmarks)",
    )
    parser.add_argument("--latency-ms", type=float)
    parser.add_argument("--error-rate", type=float)
    parser.add_argument("--rate-limit-per-s", type=float)
    parser.add_argument("--rate-limit-burst", type=int)
    parser.add_argument("--retry-after-s", type=int)
    parser.add_argument("--timeout-rate", type=float)
    parser.add_argument("--stall-s", type=float)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--access-log", action="store_true", help="log every request (noisy under benchmarks)")
    return parser


def config_from_args(args: argparse.Namespace) -> BillectaSandboxConfig:
    config = BillectaSandboxConfig.from_env()
    if args.authorization:
        config.accepted_authorizations = list(args.authorization)
    if args.webhook_url:
        config.webhook_url = args.webhook_url
    if args.webhook_header:
        config.webhook_headers = {k: v for h in args.webhook_header for k, v in parse_headers(h).items()}
    if args.webhook_style:
        config.webhook_payload_style = args.webhook_style
    if args.webhook_triggers:
        config.webhook_triggers = [t.strip() for t in args.webhook_triggers.split(",") if t.strip()]
    for name in (
        "webhook_max_attempts",
        "webhook_backoff_s",
        "webhook_backoff_max_s",
        "webhook_timeout_s",
        "auto_send_delay_s",
        "swish_delay_s",
        "swish_outcome",
        "stall_after_s",
    ):
        if getattr(args, name) is not None:
            setattr(config, name, getattr(args, name))
    if args.stall_after_routes:
        config.stall_after_routes = [r.strip() for r in args.stall_after_routes.split(",") if r.strip()]
    if args.no_validate_responses:
        config.validate_responses = False
    knobs = {
        name: getattr(args, name)
        for name in (
            "latency_ms",
            "error_rate",
            "rate_limit_per_s",
            "rate_limit_burst",
            "retry_after_s",
            "timeout_rate",
            "stall_s",
        )
        if getattr(args, name) is not None
    }
    config.knobs.update(knobs)
    return config


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.access_log:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        config = config_from_args(args)
        app = create_app(config)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    server = make_server(args.host, args.port, app, threaded=True)
    logging.getLogger("sandbox.billecta").info(
        "Billecta sandbox on http://%s:%s (webhooks -> %s)", args.host, server.server_port, config.webhook_url
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
