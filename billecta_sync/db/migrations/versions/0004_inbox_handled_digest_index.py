"""the inbox's digest index holds handled rows only

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 19:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: as ``billecta_sync.db.models.INBOX_HANDLED`` states it at this revision
_HANDLED = sa.text("status IN ('processed', 'ignored')")


def upgrade() -> None:
    # A duplicate is looked for among handled rows only (inbox.earlier_twin): indexing just those keeps the
    # index off the gateway's insert, which stores every row as queued.
    with op.batch_alter_table("webhook_inbox") as batch:
        batch.drop_index("ix_inbox_body_sha256")
        batch.create_index("ix_inbox_handled_sha256", ["source", "body_sha256"], unique=False,
                           sqlite_where=_HANDLED, postgresql_where=_HANDLED)


def downgrade() -> None:
    with op.batch_alter_table("webhook_inbox") as batch:
        batch.drop_index("ix_inbox_handled_sha256")
        batch.create_index("ix_inbox_body_sha256", ["body_sha256"], unique=False)
