"""Logging set-up shared by the processes: one line per record, level from LOG_LEVEL."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_billecta_sync", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(FORMAT))
        handler._billecta_sync = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    # Per-request lines from urllib3 add nothing our clients do not log themselves.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
