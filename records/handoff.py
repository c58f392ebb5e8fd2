"""Handoffs to a human: the conversation a customer asked a person to take over, in an
embedded SQLite database, under a reference number people can read out on the phone
(KF-20261125-0042: the local date and that day's sequence).

Phone, ID-card and bank-card numbers are masked before anything is written, and the file
is readable by its owner only: it holds customers' own words.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from core.privacy import mask_personal_data
from core.settings import Settings

_SCHEMA = """
CREATE TABLE IF NOT EXISTS handoff (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ref TEXT NOT NULL UNIQUE,
    day TEXT NOT NULL,
    seq INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    team TEXT NOT NULL,
    category TEXT,
    case_title TEXT,
    reason TEXT NOT NULL DEFAULT '',
    messages TEXT NOT NULL,
    kb_version TEXT NOT NULL DEFAULT '',
    UNIQUE (day, seq)
);
"""
_COLUMNS = "ref, created_at, team, category, case_title, reason, messages, kb_version"


@dataclass(frozen=True)
class HandoffMessage:
    question: str  # what the customer wrote (masked)
    answer: str  # what they were shown (masked)
    case: str | None = None


@dataclass(frozen=True)
class Handoff:
    ref: str  # "KF-20261125-0042"
    created_at: str  # UTC, ISO 8601
    team: str
    category: str | None
    case: str | None
    reason: str
    messages: tuple[HandoffMessage, ...]  # oldest first
    kb_version: str


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # never world-readable, not even for a moment
    os.chmod(path, 0o600)  # SQLite gives its journal the database file's mode
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    conn.executescript(_SCHEMA)
    return conn


def record(settings: Settings, *, team: str, category: str | None, case: str | None, reason: str,
           messages: Sequence[HandoffMessage], kb_version: str, now: dt.datetime | None = None) -> Handoff:
    """Store one handoff under the next reference number of the day; returns it as stored."""
    if not team.strip():
        raise ValueError("a handoff needs a team")
    if not messages:
        raise ValueError("a handoff needs the conversation")
    now = (now or dt.datetime.now(dt.UTC)).astimezone()
    day = now.strftime("%Y%m%d")
    created = now.astimezone(dt.UTC).isoformat(timespec="seconds")
    masked = tuple(HandoffMessage(mask_personal_data(m.question), mask_personal_data(m.answer), m.case) for m in messages)
    body = json.dumps([{"question": m.question, "answer": m.answer, "case": m.case} for m in masked], ensure_ascii=False)
    with closing(_connect(settings.handoff_db)) as conn:
        conn.execute("BEGIN IMMEDIATE")  # one writer picks the next number at a time
        try:
            seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM handoff WHERE day = ?", (day,)).fetchone()[0]
            ref = f"KF-{day}-{seq:04d}"
            conn.execute("INSERT INTO handoff (ref, day, seq, created_at, team, category, case_title, reason, messages, kb_version) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (ref, day, seq, created, team, category, case, mask_personal_data(reason or ""), body, kb_version or ""))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return Handoff(ref, created, team, category, case, mask_personal_data(reason or ""), masked, kb_version or "")


def _row(row) -> Handoff:
    ref, created, team, category, case, reason, body, version = row
    messages = tuple(HandoffMessage(m["question"], m["answer"], m.get("case")) for m in json.loads(body))
    return Handoff(ref, created, team, category, case, reason, messages, version)


def get(settings: Settings, ref: str) -> Handoff | None:
    if not settings.handoff_db.exists():
        return None
    with closing(_connect(settings.handoff_db)) as conn:
        row = conn.execute(f"SELECT {_COLUMNS} FROM handoff WHERE ref = ?", (ref.strip().upper(),)).fetchone()
    return _row(row) if row else None


def recent(settings: Settings, limit: int = 100) -> list[Handoff]:
    """The newest handoffs first: what the teams pick up."""
    if not settings.handoff_db.exists():
        return []
    with closing(_connect(settings.handoff_db)) as conn:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM handoff ORDER BY id DESC LIMIT ?", (int(limit),)).fetchall()
    return [_row(r) for r in rows]
