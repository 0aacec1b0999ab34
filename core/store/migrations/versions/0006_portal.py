"""provider portal: removal claims per recipient, and providers' contests of an item's classification

Revision ID: 0006_portal
Revises: 0005_notifier
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_portal"
down_revision = "0005_notifier"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN: SQLite does it in place, without batch mode's table copy.
    op.add_column("notice_recipients", sa.Column("removal_claimed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "notice_contests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_item_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("review_item_id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["notice_item_id"], ["notice_items.id"]),
        sa.ForeignKeyConstraint(["provider_id"], ["providers.id"]),
        sa.ForeignKeyConstraint(["review_item_id"], ["review_items.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("notice_item_id", "provider_id"),
    )
    op.create_index("ix_notice_contests_status", "notice_contests", ["status"], unique=False)
    op.create_index("ix_notice_contests_review_item_id", "notice_contests", ["review_item_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_notice_contests_review_item_id", table_name="notice_contests")
    op.drop_index("ix_notice_contests_status", table_name="notice_contests")
    op.drop_table("notice_contests")
    with op.batch_alter_table("notice_recipients") as batch_op:
        batch_op.drop_column("removal_claimed_at")
