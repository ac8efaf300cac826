"""The JSON log lines: the gateway's batching handler writes every line, in order, warnings at once; the
formatter writes what structlog's chain would."""

from __future__ import annotations

import io
import json
import logging
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import structlog

from billecta_sync import logs


@pytest.fixture
def batching() -> Iterator[tuple[logging.Logger, logs.BatchingStreamHandler, io.StringIO]]:
    stream = io.StringIO()
    # An interval far longer than any test: only the behaviour under test writes lines.
    handler = logs.BatchingStreamHandler(stream, interval_s=3600)
    handler.setFormatter(logs.json_formatter())
    logger = logging.getLogger(f"test.batching.{id(stream)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield logger, handler, stream
    logger.removeHandler(handler)
    handler.close()


def events(stream: io.StringIO) -> list[str]:
    return [json.loads(line)["event"] for line in stream.getvalue().splitlines()]


def test_info_lines_wait_for_the_batch_and_flush_writes_them_in_order(batching: tuple) -> None:
    logger, handler, stream = batching
    for n in range(3):
        logger.info("line %d", n)
    assert stream.getvalue() == ""
    handler.flush()
    assert events(stream) == ["line 0", "line 1", "line 2"]


def test_a_warning_is_written_at_once_with_everything_before_it(batching: tuple) -> None:
    logger, _handler, stream = batching
    logger.info("before")
    logger.warning("the broker is down")
    assert events(stream) == ["before", "the broker is down"]
    assert json.loads(stream.getvalue().splitlines()[1])["level"] == "warning"


def test_a_full_batch_is_written_without_waiting(batching: tuple) -> None:
    logger, handler, stream = batching
    handler.max_bytes = 200
    for n in range(5):
        logger.info("line %d with some padding to fill the batch quickly", n)
    assert events(stream)[:2] == ["line 0 with some padding to fill the batch quickly",
                                  "line 1 with some padding to fill the batch quickly"]


def test_lines_are_written_within_the_interval_without_a_flush() -> None:
    stream = io.StringIO()
    handler = logs.BatchingStreamHandler(stream, interval_s=0.05)
    handler.setFormatter(logs.json_formatter())
    logger = logging.getLogger("test.batching.interval")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        logger.info("on its way")
        deadline = time.monotonic() + 10
        while not stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert events(stream) == ["on its way"]
    finally:
        logger.removeHandler(handler)
        handler.close()


def test_the_lines_keep_the_log_context(batching: tuple) -> None:
    logger, handler, stream = batching
    logs.bind(correlation_id="cid-batch")
    try:
        logger.info("with context", extra={"status": 200})
    finally:
        logs.clear()
    handler.flush()
    line = json.loads(stream.getvalue())
    assert (line["correlation_id"], line["status"], line["event"]) == ("cid-batch", 200, "with context")


def _line(formatter: logging.Formatter, record: logging.LogRecord) -> dict:
    line = json.loads(formatter.format(record))
    assert line.pop("timestamp", "").endswith("Z") or "exception" in line
    return line


def test_a_record_becomes_the_line_structlog_writes_with_context_extras_and_secrets_blanked() -> None:
    record = logging.LogRecord("webhook_gateway.access", logging.INFO, __file__, 1, "%s %s %d", ("POST", "/x", 200),
                               None)
    record.__dict__.update(status=200, duration_ms=1.5, api_key="k-123", since=datetime(2026, 12, 1, tzinfo=UTC))
    logs.bind(correlation_id="cid-1", task="sync")
    try:
        ours, theirs = _line(logs.json_formatter(), record), _line(logs._structlog_formatter(), record)
    finally:
        logs.clear()
    assert ours == theirs
    assert list(ours) == list(theirs)  # same key order: event first, as readers of the raw lines see it
    assert ours["event"] == "POST /x 200" and ours["correlation_id"] == "cid-1" and ours["api_key"] == "***"
    assert ours["since"] == "2026-12-01 00:00:00+00:00"  # not JSON: written as text, never dropped


def test_an_exception_is_written_as_structlog_writes_it() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    ours, theirs = _line(logs.json_formatter(), record), _line(logs._structlog_formatter(), record)
    assert ours == theirs and "ValueError: boom" in ours["exception"]


def test_a_structlog_logger_still_writes_its_lines() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.json_formatter())
    logs.configure_logging("INFO")
    std = logging.getLogger("test.structlog")
    std.propagate = False
    std.addHandler(handler)
    try:
        structlog.get_logger("test.structlog").info("bound", order=7)
    finally:
        std.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert (line["event"], line["order"], line["level"]) == ("bound", 7, "info")
