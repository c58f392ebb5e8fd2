"""The records tables (SQLAlchemy Core): one definition for SQLite and PostgreSQL.

The schema itself is made by the Alembic migrations in records/migrations/; a test checks
that these tables and the migrations agree.
"""

from __future__ import annotations

import sqlalchemy as sa

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData()

feedback = sa.Table(
    "feedback", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("question", sa.Text, nullable=False),  # masked
    sa.Column("case_title", sa.String(200)),
    sa.Column("kb_version", sa.String(100), nullable=False, server_default=""),
    sa.Column("rating", sa.String(8), nullable=False),
    sa.Column("comment", sa.Text, nullable=False, server_default=""),  # masked
    sa.CheckConstraint("rating IN ('up', 'down')", name="feedback_rating"),
    sa.Index("feedback_rating_time", "rating", "created_at"),
)

questions = sa.Table(
    "question_log", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("question", sa.Text, nullable=False),  # masked
    sa.Column("route", sa.String(16), nullable=False),  # faq | case | category | refused | none
    sa.Column("case_title", sa.String(200)),
    sa.Column("category", sa.String(200)),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("kb_version", sa.String(100), nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("replica", sa.String(100), nullable=False, server_default=""),  # host:pid that answered
    sa.Index("question_log_time", "created_at"),
    sa.Index("question_log_route_time", "route", "created_at"),
)

handoffs = sa.Table(
    "handoff", metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("ref", sa.String(32), nullable=False, unique=True),  # KF-20261125-0042
    sa.Column("day", sa.String(8), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("team", sa.String(200), nullable=False),
    sa.Column("category", sa.String(200)),
    sa.Column("case_title", sa.String(200)),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),  # masked
    sa.Column("messages", sa.Text, nullable=False),  # JSON, masked
    sa.Column("kb_version", sa.String(100), nullable=False, server_default=""),
    sa.UniqueConstraint("day", "seq", name="handoff_day_seq"),  # two replicas never hand out one number
)
