"""Handoffs to a human.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "handoff",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("ref", sa.String(32), nullable=False, unique=True),
        sa.Column("day", sa.String(8), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("team", sa.String(200), nullable=False),
        sa.Column("category", sa.String(200)),
        sa.Column("case_title", sa.String(200)),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("messages", sa.Text, nullable=False),
        sa.Column("kb_version", sa.String(100), nullable=False, server_default=""),
        sa.UniqueConstraint("day", "seq", name="handoff_day_seq"),
    )


def downgrade() -> None:
    op.drop_table("handoff")
