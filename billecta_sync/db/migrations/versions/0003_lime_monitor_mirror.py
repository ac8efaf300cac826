"""monitor batches and logs remember their copy in Lime's integration monitor

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TABLES = ("monitor_batch", "monitor_log")


def upgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("lime_id", sa.Integer(), nullable=True))
            batch.add_column(sa.Column("lime_synced_at", sa.DateTime(), nullable=True))
    # The mirror looks for rows whose change Lime lacks (lime_synced_at NULL) in id order.
    with op.batch_alter_table("monitor_batch") as batch:
        batch.create_index("ix_batch_lime_pending", ["lime_synced_at", "id"], unique=False)
    with op.batch_alter_table("monitor_log") as batch:
        batch.create_index("ix_log_lime_pending", ["lime_synced_at", "id"], unique=False)
    # Finished history stays in the service only: a first run must not send 90 days of batches through the
    # Lime budget the sync shares. Marked synced without a Lime id (see LimeMirror); batches still running
    # are left to the mirror whole, with their logs.
    op.execute(sa.text("UPDATE monitor_batch SET lime_synced_at = CURRENT_TIMESTAMP WHERE status != 'running'"))
    op.execute(sa.text("UPDATE monitor_log SET lime_synced_at = CURRENT_TIMESTAMP WHERE batch_id IS NULL OR "
                       "batch_id IN (SELECT id FROM monitor_batch WHERE status != 'running')"))


def downgrade() -> None:
    with op.batch_alter_table("monitor_log") as batch:
        batch.drop_index("ix_log_lime_pending")
    with op.batch_alter_table("monitor_batch") as batch:
        batch.drop_index("ix_batch_lime_pending")
    for table in reversed(_TABLES):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("lime_synced_at")
            batch.drop_column("lime_id")
