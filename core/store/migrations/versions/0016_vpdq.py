"""matcher: known videos as vPDQ hashes (per-frame PDQ with quality and timestamp), each behind a hash entry

Revision ID: 0016_vpdq
Revises: 0015_list_variants
Create Date: 2026-12-08 00:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_vpdq"
down_revision = "0015_list_variants"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vpdq_videos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hash_set_id", sa.Integer(), nullable=False),
        sa.Column("hash_entry_id", sa.Integer(), nullable=False),
        sa.Column("frame_count", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["hash_set_id"], ["hash_sets.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["hash_entry_id"], ["hash_entries.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hash_entry_id"),
    )
    op.create_index("ix_vpdq_videos_hash_set_id", "vpdq_videos", ["hash_set_id"])
    op.create_table(
        "vpdq_frames",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("video_id", sa.Integer(), nullable=False),
        sa.Column("frame_number", sa.Integer(), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=False),
        sa.Column("pdq", sa.String(64), nullable=False),
        sa.Column("timestamp", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["video_id"], ["vpdq_videos.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_vpdq_frames_video_id", "vpdq_frames", ["video_id"])


def downgrade() -> None:
    op.drop_index("ix_vpdq_frames_video_id", table_name="vpdq_frames")
    op.drop_table("vpdq_frames")
    op.drop_index("ix_vpdq_videos_hash_set_id", table_name="vpdq_videos")
    op.drop_table("vpdq_videos")
