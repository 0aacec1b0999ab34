"""hash_entries record the version of the algorithm that made each value, so the matcher never compares versions

Revision ID: 0008_hash_entry_version
Revises: 0007_sighting_headers
Create Date: 2026-12-07 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_hash_entry_version"
down_revision = "0007_sighting_headers"
branch_labels = None
depends_on = None

# Every algorithm registered when this revision was written was at version 1, so the entries
# stored before it are version 1. Written out rather than read from hashing.registry: a
# migration must mean the same thing whatever the registry says later.
_VERSIONS_AT_THIS_REVISION = {"md5": 1, "sha1": 1, "sha256": 1, "pdq": 1, "phash": 1, "dhash": 1}


def upgrade() -> None:
    with op.batch_alter_table("hash_entries") as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=True))
    entries = sa.table("hash_entries", sa.column("algorithm", sa.String), sa.column("version", sa.Integer))
    for algorithm, version in _VERSIONS_AT_THIS_REVISION.items():
        op.execute(entries.update().where(entries.c.algorithm == algorithm).values(version=version))
    # An algorithm this build never knew cannot be matched anyway; 1 is what it would have been.
    op.execute(entries.update().where(entries.c.version.is_(None)).values(version=1))
    with op.batch_alter_table("hash_entries") as batch_op:
        batch_op.alter_column("version", existing_type=sa.Integer(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("hash_entries") as batch_op:
        batch_op.drop_column("version")
