"""The migrations build exactly the schema the models describe, on an empty database and step by step."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from billecta_sync.db import Base, upgrade


def test_upgrading_an_empty_database_gives_the_models_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'service.db'}"
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    engine.dispose()


def test_a_database_of_the_first_release_keeps_its_rows_through_the_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'service.db'}"
    upgrade(url, "0001")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO webhook_inbox (source, received_at, remote_addr, headers, body, body_sha256, event_type, "
            "object_key, status, attempts, last_error, updated_at) VALUES ('billecta', '2026-01-01', '', '{}', "
            "'{}', 'x', 'InvoiceActionAttested', 'action:a', 'processed', 1, '', '2026-01-01')")
    upgrade(url)
    with engine.connect() as connection:
        row = connection.exec_driver_sql("SELECT event_type, correlation_id FROM webhook_inbox").one()
        assert tuple(row) == ("InvoiceActionAttested", "")
        assert {"idempotency_key", "replay_audit"} <= set(inspect(connection).get_table_names())
    engine.dispose()
