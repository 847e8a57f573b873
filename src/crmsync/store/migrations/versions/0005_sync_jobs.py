"""sync jobs

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 04:02:10+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "sync_jobs",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("flow", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column(
            "ids",
            JSON,
            nullable=True,
        ),
        sa.Column("restart", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stop_requested", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column(
            "counts",
            JSON,
            nullable=False,
        ),
        sa.Column(
            "errors",
            JSON,
            nullable=False,
        ),
        sa.Column("resumes", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "status IN ('running', 'stopping', 'stopped', 'completed', 'failed')",
            name=op.f("ck_sync_jobs_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_jobs")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("sync_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sync_jobs_flow_kind_id"), ["flow", "kind", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sync_jobs_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sync_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_jobs_status"))
        batch_op.drop_index(batch_op.f("ix_sync_jobs_flow_kind_id"))

    op.drop_table("sync_jobs")
