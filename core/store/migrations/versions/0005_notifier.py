"""notifier: recipients per item, notice entries, sent journal, RDAP cache, backoff and follow-up columns

Revision ID: 0005_notifier
Revises: 0001
Create Date: 2026-11-22 14:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005_notifier"
down_revision = "0004_web"
branch_labels = None
depends_on = None


def _add_not_null(table: str, name: str, type_: sa.types.TypeEngine[Any], default: str) -> None:
    # NOT NULL with a server default: existing rows get the default, and SQLite adds the column
    # in place (no table copy, which its foreign keys would refuse while rows refer to the table).
    op.add_column(table, sa.Column(name, type_, nullable=False, server_default=sa.text(default)))


def upgrade() -> None:
    # JSON columns stay nullable: a JSON server default cannot be compared on PostgreSQL.
    op.add_column("providers", sa.Column("asn_names", sa.JSON(), nullable=True))
    op.add_column("providers", sa.Column("policy", sa.JSON(), nullable=True))
    _add_not_null("providers", "source", sa.String(length=20), "'directory'")
    op.add_column("providers", sa.Column("webhook_secret", sa.Text(), nullable=True))
    op.execute(sa.text("UPDATE providers SET source = 'unresolved' WHERE kind = 'unresolved'"))

    _add_not_null("notices", "role", sa.String(length=20), "'host'")
    op.add_column("notices", sa.Column("escalated_from", sa.String(length=200), nullable=True))

    # Plain ADD COLUMN / CREATE INDEX: SQLite does them in place, without batch mode's table copy.
    op.add_column("notice_items", sa.Column("country", sa.String(length=2), nullable=True))
    op.add_column("notice_items", sa.Column("asn_name", sa.String(length=200), nullable=True))
    op.add_column("notice_items", sa.Column("first_noticed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("notice_items", sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("notice_items", sa.Column("next_check_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_notice_items_country", "notice_items", ["country"], unique=False)
    op.create_index("ix_notice_items_next_check_at", "notice_items", ["next_check_at"], unique=False)
    op.add_column("deliveries", sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "notice_recipients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notice_item_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("escalated_from", sa.String(length=200), nullable=True),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notices_sent", sa.Integer(), nullable=False),
        sa.Column("last_notice_id", sa.String(length=64), nullable=True),
        sa.Column("last_noticed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["notice_item_id"], ["notice_items.id"]),
        sa.ForeignKeyConstraint(["provider_id"], ["providers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("notice_item_id", "provider_id"),
    )
    with op.batch_alter_table("notice_recipients") as batch_op:
        batch_op.create_index(batch_op.f("ix_notice_recipients_notice_item_id"), ["notice_item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notice_recipients_provider_id"), ["provider_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notice_recipients_pending"), ["pending"], unique=False)
        batch_op.create_index(batch_op.f("ix_notice_recipients_last_notice_id"), ["last_notice_id"], unique=False)

    op.create_table(
        "notice_entries",
        sa.Column("notice_id", sa.String(length=64), nullable=False),
        sa.Column("notice_item_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["notice_id"], ["notices.id"]),
        sa.ForeignKeyConstraint(["notice_item_id"], ["notice_items.id"]),
        sa.PrimaryKeyConstraint("notice_id", "notice_item_id"),
    )
    op.create_table(
        "sent_journal",
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("idempotency_key"),
    )
    op.create_table(
        "rdap_cache",
        sa.Column("query", sa.String(length=300), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("query"),
    )

    # Items noticed before this revision: one host recipient each, and the entry of their notice.
    op.execute(sa.text(
        "INSERT INTO notice_recipients (notice_item_id, provider_id, role, pending, due_at, notices_sent, "
        "last_notice_id, last_noticed_at, escalated) "
        "SELECT i.id, i.provider_id, 'host', CASE WHEN i.notice_id IS NULL THEN 1 ELSE 0 END = 1, i.created_at, "
        "CASE WHEN n.sent_at IS NULL THEN 0 ELSE 1 END, i.notice_id, n.sent_at, 1 = 0 "
        "FROM notice_items i LEFT JOIN notices n ON n.id = i.notice_id"
    ))
    op.execute(sa.text(
        "INSERT INTO notice_entries (notice_id, notice_item_id) "
        "SELECT notice_id, id FROM notice_items WHERE notice_id IS NOT NULL"
    ))
    op.execute(sa.text(
        "UPDATE notice_items SET first_noticed_at = "
        "(SELECT sent_at FROM notices WHERE notices.id = notice_items.notice_id) WHERE notice_id IS NOT NULL"
    ))


def downgrade() -> None:
    op.drop_table("rdap_cache")
    op.drop_table("sent_journal")
    op.drop_table("notice_entries")
    with op.batch_alter_table("notice_recipients") as batch_op:
        batch_op.drop_index(batch_op.f("ix_notice_recipients_last_notice_id"))
        batch_op.drop_index(batch_op.f("ix_notice_recipients_pending"))
        batch_op.drop_index(batch_op.f("ix_notice_recipients_provider_id"))
        batch_op.drop_index(batch_op.f("ix_notice_recipients_notice_item_id"))
    op.drop_table("notice_recipients")
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_column("next_attempt_at")
    with op.batch_alter_table("notice_items") as batch_op:
        batch_op.drop_index(batch_op.f("ix_notice_items_next_check_at"))
        batch_op.drop_index(batch_op.f("ix_notice_items_country"))
        for name in ("next_check_at", "last_checked_at", "first_noticed_at", "asn_name", "country"):
            batch_op.drop_column(name)
    with op.batch_alter_table("notices") as batch_op:
        batch_op.drop_column("escalated_from")
        batch_op.drop_column("role")
    with op.batch_alter_table("providers") as batch_op:
        for name in ("webhook_secret", "source", "policy", "asn_names"):
            batch_op.drop_column(name)
