"""crawler: public and partner reports of URLs, one row per normalised reported URL, and the links between them

Revision ID: 0014_reports
Revises: 0013_survivor_lists
Create Date: 2026-12-08 00:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_reports"
down_revision = "0013_survivor_lists"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("where_seen", sa.String(20), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("contact", sa.Text(), nullable=True),
        sa.Column("reference", sa.String(200), nullable=True),
        sa.Column("partner", sa.String(200), nullable=True),
        sa.Column("language", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_index("ix_reports_created_at", "reports", ["created_at"])
    op.create_table(
        "reported_urls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url_key", sa.String(64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=True),
        sa.Column("first_reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("url_key"),
    )
    op.create_index("ix_reported_urls_campaign_id", "reported_urls", ["campaign_id"])
    op.create_table(
        "report_urls",
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("reported_url_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["reported_url_id"], ["reported_urls.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("report_id", "reported_url_id"),
    )
    op.create_index("ix_report_urls_reported_url_id", "report_urls", ["reported_url_id"])


def downgrade() -> None:
    op.drop_table("report_urls")
    op.drop_table("reported_urls")
    op.drop_table("reports")
