"""campaign life: state, lease, recurrence, robots override reason, frontier and counters

Revision ID: 0003_campaigns
Revises: 0001
Create Date: 2026-11-22 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_campaigns"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("robots_override_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("run_count", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("lease_version", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("frontier_path", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("pages_fetched", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("media_fetched", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("fetch_errors", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("queued", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("last_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_campaigns_next_run_at"), ["next_run_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaigns_next_run_at"))
        for column in (
            "updated_at",
            "last_reason",
            "queued",
            "fetch_errors",
            "media_fetched",
            "pages_fetched",
            "frontier_path",
            "lease_version",
            "lease_expires_at",
            "lease_owner",
            "next_run_at",
            "run_count",
            "robots_override_reason",
        ):
            batch_op.drop_column(column)
