"""initial: records, identity links, delivered projections, inbox, positions, checkpoints

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the types in crmsync.store.schema: a migration must not change when the code does.
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
INTERNAL_ID = sa.String(32)


def upgrade() -> None:
    op.create_table(
        "records",
        sa.Column("id", INTERNAL_ID, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_records")),
    )
    op.create_table(
        "identity_links",
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("system", sa.Text(), nullable=False),
        sa.Column("id_kind", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("internal_id", INTERNAL_ID, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["internal_id"],
            ["records.id"],
            name=op.f("fk_identity_links_internal_id_records"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("kind", "system", "id_kind", "value", name=op.f("pk_identity_links")),
    )
    op.create_index(op.f("ix_identity_links_internal_id"), "identity_links", ["internal_id"])
    op.create_table(
        "delivered",
        sa.Column("internal_id", INTERNAL_ID, nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("hash", sa.Text(), nullable=False),
        sa.Column("source_version", sa.BigInteger(), nullable=True),
        sa.Column("target_id", sa.Text(), nullable=True),
        sa.Column("delivered_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["internal_id"], ["records.id"], name=op.f("fk_delivered_internal_id_records"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("internal_id", "target", name=op.f("pk_delivered")),
    )
    op.create_table(
        "inbox",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("resource_id", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=True),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("correlation_id", sa.Text(), nullable=True),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'done', 'stale', 'failed')", name=op.f("ck_inbox_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox")),
        sa.UniqueConstraint("source", "event_id", name=op.f("uq_inbox_source_event_id")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_inbox_source_status_id"), "inbox", ["source", "status", "id"])
    op.create_table(
        "positions",
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("resource_id", sa.Text(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("source", "kind", "resource_id", name=op.f("pk_positions")),
    )
    op.create_table(
        "checkpoints",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("value", JSON, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_checkpoints")),
    )


def downgrade() -> None:
    op.drop_table("checkpoints")
    op.drop_table("positions")
    op.drop_index(op.f("ix_inbox_source_status_id"), table_name="inbox")
    op.drop_table("inbox")
    op.drop_table("delivered")
    op.drop_index(op.f("ix_identity_links_internal_id"), table_name="identity_links")
    op.drop_table("identity_links")
    op.drop_table("records")
