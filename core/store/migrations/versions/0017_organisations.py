"""organisations: several reviewing organisations (operator, hotlines), items routed and forwarded between them

Revision ID: 0017_organisations
Revises: 0016_vpdq
Create Date: 2026-12-08 00:40:00

The operator's organisation (id 1) is created here so every existing item and user belongs to it.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0017_organisations"
down_revision = "0016_vpdq"
branch_labels = None
depends_on = None


def upgrade() -> None:
    organisations = op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("jurisdiction", sa.JSON(), nullable=False),
        sa.Column("opted_in", sa.Boolean(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("notice_name", sa.String(200), nullable=False),
        sa.Column("notice_email", sa.String(200), nullable=True),
        sa.Column("notice_domain", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    # Notice identity None: the notifier's own settings (operator_name, sender) speak for the operator.
    op.bulk_insert(organisations, [{
        "id": 1, "name": "operator", "kind": "operator", "jurisdiction": [], "opted_in": True, "categories": {},
        "notice_name": "", "notice_email": None, "notice_domain": None,
        "created_at": datetime.now(UTC),
    }])
    op.create_table(
        "review_forwards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_item_id", sa.Integer(), nullable=False),
        sa.Column("from_org_id", sa.Integer(), nullable=False),
        sa.Column("to_org_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["review_item_id"], ["review_items.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["from_org_id"], ["organisations.id"]),
        sa.ForeignKeyConstraint(["to_org_id"], ["organisations.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_review_forwards_review_item_id", "review_forwards", ["review_item_id"])
    # A plain ADD COLUMN without a foreign key: SQLite would otherwise rebuild review_items, which other
    # tables' keys forbid, and cannot add a REFERENCES column with a non-NULL default. review.orgs checks
    # the organisation exists; organisations are never deleted.
    for table in ("review_items", "web_users", "hash_sets"):
        op.add_column(table, sa.Column("org_id", sa.Integer(), nullable=False, server_default=sa.text("1")))
    op.create_index("ix_review_items_org_id", "review_items", ["org_id"])


def downgrade() -> None:
    op.drop_index("ix_review_items_org_id", table_name="review_items")
    for table in ("hash_sets", "web_users", "review_items"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("org_id")
    op.drop_index("ix_review_forwards_review_item_id", table_name="review_forwards")
    op.drop_table("review_forwards")
    op.drop_table("organisations")
