"""hash_entries may be list-side variants (crops) of a parent entry; matches say which variant matched

Revision ID: 0015_list_variants
Revises: 0014_reports
Create Date: 2026-12-08 00:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_list_variants"
down_revision = "0014_reports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hash_entries") as batch_op:
        batch_op.add_column(sa.Column("variant", sa.String(length=40), nullable=False,
                                      server_default=sa.text("''")))
        batch_op.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_hash_entries_parent_id", "hash_entries", ["parent_id"], ["id"],
                                    ondelete="CASCADE")
        batch_op.create_index("ix_hash_entries_parent_id", ["parent_id"])
    with op.batch_alter_table("matches") as batch_op:
        batch_op.add_column(sa.Column("list_variant", sa.String(length=40), nullable=False,
                                      server_default=sa.text("''")))


def downgrade() -> None:
    with op.batch_alter_table("matches") as batch_op:
        batch_op.drop_column("list_variant")
    with op.batch_alter_table("hash_entries") as batch_op:
        batch_op.drop_index("ix_hash_entries_parent_id")
        batch_op.drop_constraint("fk_hash_entries_parent_id", type_="foreignkey")
        batch_op.drop_column("parent_id")
        batch_op.drop_column("variant")
