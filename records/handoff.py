"""Handoffs to a human: the conversation a customer asked a person to take over, in the
records database (records/db.py: SQLite under KEFU_HOME, readable by its owner only, or
PostgreSQL shared by every replica), under a reference number people can read out on the
phone (KF-20261125-0042: the local date and that day's sequence).

Phone, ID-card and bank-card numbers are masked before anything is written: it holds
customers' own words.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from core.privacy import mask_personal_data
from core.settings import Settings
from records import db
from records.schema import handoffs

_TRIES = 50  # writers racing for the day's next number: each loser takes the one after

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


def record(settings: Settings, *, team: str, category: str | None, case: str | None, reason: str,
           messages: Sequence[HandoffMessage], kb_version: str, now: dt.datetime | None = None) -> Handoff:
    """Store one handoff under the next reference number of the day; returns it as stored."""
    if not team.strip():
        raise ValueError("a handoff needs a team")
    if not messages:
        raise ValueError("a handoff needs the conversation")
    now = (now or dt.datetime.now(dt.UTC)).astimezone()
    day = now.strftime("%Y%m%d")
    created = now.astimezone(dt.UTC)
    masked = tuple(HandoffMessage(mask_personal_data(m.question), mask_personal_data(m.answer), m.case) for m in messages)
    body = json.dumps([{"question": m.question, "answer": m.answer, "case": m.case} for m in masked], ensure_ascii=False)
    reason = mask_personal_data(reason or "")
    engine = db.engine(settings)
    db.keep_private(settings)
    next_seq = sa.select(sa.func.coalesce(sa.func.max(handoffs.c.seq), 0) + 1).where(handoffs.c.day == day)
    for _ in range(_TRIES):
        try:
            with engine.begin() as conn:
                seq = int(conn.execute(next_seq).scalar_one())
                ref = f"KF-{day}-{seq:04d}"
                conn.execute(sa.insert(handoffs), {"ref": ref, "day": day, "seq": seq, "created_at": created, "team": team,
                                                   "category": category, "case_title": case, "reason": reason, "messages": body,
                                                   "kb_version": kb_version or ""})
            break
        except sa.exc.IntegrityError:
            continue  # another replica or thread took this number first
    else:
        raise RuntimeError("could not allocate a handoff number")
    return Handoff(ref, created.isoformat(timespec="seconds"), team, category, case, reason, masked, kb_version or "")


def _row(r) -> Handoff:
    messages = tuple(HandoffMessage(m["question"], m["answer"], m.get("case")) for m in json.loads(r["messages"]))
    return Handoff(r["ref"], db.as_utc(r["created_at"]).isoformat(timespec="seconds"), r["team"], r["category"], r["case_title"],
                   r["reason"], messages, r["kb_version"])


def get(settings: Settings, ref: str) -> Handoff | None:
    with db.engine(settings).connect() as conn:
        row = conn.execute(sa.select(handoffs).where(handoffs.c.ref == ref.strip().upper())).mappings().first()
    return _row(row) if row else None


def recent(settings: Settings, limit: int = 100) -> list[Handoff]:
    """The newest handoffs first: what the teams pick up."""
    with db.engine(settings).connect() as conn:
        rows = conn.execute(sa.select(handoffs).order_by(handoffs.c.id.desc()).limit(int(limit))).mappings().all()
    return [_row(r) for r in rows]
