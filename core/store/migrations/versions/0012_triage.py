"""review triage: a review item's kind (a known-list match, or a reported page's unmatched media)

Revision ID: 0012_triage
Revises: 0011_web_teams
Create Date: 2026-12-08 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_triage"
down_revision = "0011_web_teams"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("review_items") as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(20), nullable=False, server_default="match"))
        batch_op.create_index("ix_review_items_kind", ["kind"])


def downgrade() -> None:
    with op.batch_alter_table("review_items") as batch_op:
        batch_op.drop_index("ix_review_items_kind")
        batch_op.drop_column("kind")
