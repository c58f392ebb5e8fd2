"""Answer feedback from agents and customers, in an embedded SQLite database.

Questions and comments are masked (e-mail, phone, ID-card and bank-card numbers; see
core/privacy.py) before they are stored, and the file is readable by its owner only: the
database is for improving the KB, not a copy of customers' personal data.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import stat
from contextlib import closing
from dataclasses import dataclass

from core.privacy import mask_personal_data
from core.settings import Settings
from core.types import ROLES

RATINGS = ("up", "down")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    role TEXT NOT NULL,
    question TEXT NOT NULL,
    case_title TEXT,
    kb_version TEXT NOT NULL DEFAULT '',
    rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),
    comment TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS feedback_rating_time ON feedback (rating, created_at);
"""
_COLUMNS = "id, created_at, role, question, case_title, kb_version, rating, comment"


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


def _private(path) -> None:
    """Create the database file readable by its owner only (0600), and keep it so: SQLite
    gives its journal files the same mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    if stat.S_IMODE(os.stat(path).st_mode) != 0o600:
        os.chmod(path, 0o600)


def _connect(settings: Settings) -> sqlite3.Connection:
    _private(settings.feedback_db)
    conn = sqlite3.connect(settings.feedback_db, timeout=10)
    conn.executescript(_SCHEMA)
    return conn


def record(settings: Settings, *, role: str, question: str, case: str | None, kb_version: str,
           rating: str, comment: str = "") -> int:
    """Store one rating; returns its id. Personal numbers are masked first."""
    if rating not in RATINGS:
        raise ValueError(f"rating must be one of {RATINGS}, not {rating!r}")
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")
    created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    row = (created, role, mask_personal_data(question or ""), case, kb_version or "", rating,
           mask_personal_data((comment or "").strip()))
    with closing(_connect(settings)) as conn, conn:
        cur = conn.execute(
            "INSERT INTO feedback (created_at, role, question, case_title, kb_version, rating, comment) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", row)
        return int(cur.lastrowid)


def negative(settings: Settings, limit: int = 100) -> list[Feedback]:
    """The newest "down" ratings first: what editors should look at."""
    if not settings.feedback_db.exists():
        return []
    with closing(_connect(settings)) as conn:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM feedback WHERE rating = 'down' "
                            "ORDER BY created_at DESC, id DESC LIMIT ?", (int(limit),)).fetchall()
    return [Feedback(*row) for row in rows]
