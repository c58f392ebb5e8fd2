"""Feedback and the question log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "feedback",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("case_title", sa.String(200)),
        sa.Column("kb_version", sa.String(100), nullable=False, server_default=""),
        sa.Column("rating", sa.String(8), nullable=False),
        sa.Column("comment", sa.Text, nullable=False, server_default=""),
        sa.CheckConstraint("rating IN ('up', 'down')", name="feedback_rating"),
    )
    op.create_index("feedback_rating_time", "feedback", ["rating", "created_at"])
    op.create_table(
        "question_log",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("route", sa.String(16), nullable=False),
        sa.Column("case_title", sa.String(200)),
        sa.Column("category", sa.String(200)),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("kb_version", sa.String(100), nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("replica", sa.String(100), nullable=False, server_default=""),
    )
    op.create_index("question_log_time", "question_log", ["created_at"])
    op.create_index("question_log_route_time", "question_log", ["route", "created_at"])


def downgrade() -> None:
    op.drop_index("question_log_route_time", table_name="question_log")
    op.drop_index("question_log_time", table_name="question_log")
    op.drop_table("question_log")
    op.drop_index("feedback_rating_time", table_name="feedback")
    op.drop_table("feedback")
