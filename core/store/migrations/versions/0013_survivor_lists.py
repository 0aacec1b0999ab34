"""survivor lists: a kind per hash set, and the submissions of the survivor page

Revision ID: 0013_survivor_lists
Revises: 0012_triage
Create Date: 2026-12-08 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_survivor_lists"
down_revision = "0012_triage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hash_sets") as batch:
        batch.add_column(sa.Column("kind", sa.String(20), nullable=False, server_default="known"))
    op.create_table(
        "survivor_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("hash_set_id", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("hashes", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["hash_set_id"], ["hash_sets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index("ix_survivor_submissions_hash_set_id", "survivor_submissions", ["hash_set_id"])
    op.create_index("ix_survivor_submissions_created_at", "survivor_submissions", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_survivor_submissions_created_at", table_name="survivor_submissions")
    op.drop_index("ix_survivor_submissions_hash_set_id", table_name="survivor_submissions")
    op.drop_table("survivor_submissions")
    with op.batch_alter_table("hash_sets") as batch:
        batch.drop_column("kind")
