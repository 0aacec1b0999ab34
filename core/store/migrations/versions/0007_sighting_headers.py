"""sightings keep the response headers the crawler selected, so the notifier can tell a CDN at notice time

Revision ID: 0007_sighting_headers
Revises: 0006_portal
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_sighting_headers"
down_revision = "0006_portal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: sightings recorded before this revision have no headers; readers treat NULL as {}.
    op.add_column("sightings", sa.Column("headers", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sightings") as batch_op:
        batch_op.drop_column("headers")
