"""hash lists can be shared on the hash feed; the feeds' keys, clocks and records (web)

Revision ID: 0009_feeds
Revises: 0008_hash_entry_version
Create Date: 2026-12-07 22:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_feeds"
down_revision = "0008_hash_entry_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hash_sets") as batch_op:
        batch_op.add_column(sa.Column("shared", sa.Boolean(), nullable=False, server_default="0"))
    op.create_table(
        "feed_keys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("scope", sa.String(20), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "feed_clocks",
        sa.Column("feed", sa.String(20), primary_key=True),
        sa.Column("tick", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "feed_records",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("feed", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("modified", sa.BigInteger(), nullable=False),
        sa.Column("first_active", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("feed", "kind", "value"),
    )
    op.create_index("ix_feed_records_feed_modified", "feed_records", ["feed", "modified", "id"])


def downgrade() -> None:
    op.drop_index("ix_feed_records_feed_modified", table_name="feed_records")
    op.drop_table("feed_records")
    op.drop_table("feed_clocks")
    op.drop_table("feed_keys")
    with op.batch_alter_table("hash_sets") as batch_op:
        batch_op.drop_column("shared")
