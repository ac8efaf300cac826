"""Run the Lime sandbox: ``python -m sandbox.lime --host 127.0.0.1 --port 8200 --database-url ...``."""

from __future__ import annotations

import argparse
import logging

from werkzeug.serving import make_server

from sandbox.lime.app import LimeSandboxConfig, create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.lime", description="Lime CRM sandbox REST API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8200)
    parser.add_argument("--database-url", help="SQLAlchemy URL (default: LIME_SANDBOX_DATABASE_URL or a SQLite file)")
    parser.add_argument("--application", help="application (database) name in the URL path")
    parser.add_argument(
        "--api-key", action="append", dest="api_keys", help="accepted X-API-Key value; repeat for several"
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    # Environment first, then explicit flags win.
    config = LimeSandboxConfig.from_env()
    if args.database_url:
        config.database_url = args.database_url
    if args.application:
        config.application = args.application
    if args.api_keys:
        config.api_keys = args.api_keys
    app = create_app(config)
    server = make_server(args.host, args.port, app, threaded=True)
    logging.getLogger("sandbox.lime").info(
        "Lime sandbox on http://%s:%s/%s/api/v1/ (database %s)",
        args.host,
        server.server_port,
        config.application,
        config.database_url,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
