"""Answer feedback from agents and customers, in the records database (records/db.py:
SQLite under KEFU_HOME, or PostgreSQL shared by every replica).

Questions and comments are masked (e-mail, phone, ID-card and bank-card numbers; see
core/privacy.py) before they are stored: the database is for improving the KB, not a copy
of customers' personal data.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from core.privacy import mask_personal_data
from core.settings import Settings
from core.types import ROLES
from records import db
from records.schema import feedback

RATINGS = ("up", "down")


@dataclass(frozen=True)
class Feedback:
    id: int
    created_at: str  # UTC, ISO 8601
    role: str
    question: str  # masked
    case: str | None
    kb_version: str
    rating: str  # "up" | "down"
    comment: str  # masked


def record(settings: Settings, *, role: str, question: str, case: str | None, kb_version: str,
           rating: str, comment: str = "") -> int:
    """Store one rating; returns its id. Personal data is masked first."""
    if rating not in RATINGS:
        raise ValueError(f"rating must be one of {RATINGS}, not {rating!r}")
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    row = {"created_at": db.utcnow(), "role": role, "question": mask_personal_data(question or ""), "case_title": case,
           "kb_version": kb_version or "", "rating": rating, "comment": mask_personal_data((comment or "").strip())}
    engine = db.engine(settings)
    db.keep_private(settings)
    with engine.begin() as conn:
        return int(conn.execute(sa.insert(feedback).returning(feedback.c.id), row).scalar_one())


def negative(settings: Settings, limit: int = 100) -> list[Feedback]:
    """The newest "down" ratings first: what editors should look at."""
    q = (sa.select(feedback).where(feedback.c.rating == "down")
         .order_by(feedback.c.created_at.desc(), feedback.c.id.desc()).limit(int(limit)))
    with db.engine(settings).connect() as conn:
        rows = conn.execute(q).mappings().all()
    return [Feedback(r["id"], db.as_utc(r["created_at"]).isoformat(timespec="seconds"), r["role"], r["question"],
                     r["case_title"], r["kb_version"], r["rating"], r["comment"]) for r in rows]
