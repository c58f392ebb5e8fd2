"""The question log: what was asked, how it was answered, from which KB version.

Editors read it to see what the KB lacks (the refusals) and what it answers; questions are
masked before they are queued, so personal numbers never reach memory queues, files or the
database. Rows are written by a background thread in batches (one transaction per half
second at most), so a server answering 150 questions a second does not wait on its database.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import socket
import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa

from core.privacy import mask_personal_data
from core.settings import Settings
from records import db
from records.schema import questions

log = logging.getLogger(__name__)
FLUSH_SECONDS = 0.5
MAX_BATCH = 500


@dataclass(frozen=True)
class LoggedQuestion:
    id: int
    created_at: dt.datetime
    role: str
    question: str  # masked
    route: str  # faq | case | category | refused | none (no question in the input)
    case: str | None
    category: str | None
    confidence: float
    kb_version: str
    latency_ms: float
    replica: str


class QuestionLog:
    """Queues answered questions and writes them in batches from one thread."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.replica = f"{socket.gethostname()}:{os.getpid()}"[:100]
        self._queue: queue.SimpleQueue[dict | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._flushed = threading.Condition()
        self._pending = 0

    def record(self, *, role: str, question: str, route: str, case: str | None, category: str | None,
               confidence: float, kb_version: str, latency_ms: float) -> None:
        row = {"created_at": db.utcnow(), "role": role, "question": mask_personal_data(question or "")[:4000],
               "route": route, "case_title": case, "category": category, "confidence": float(confidence),
               "kb_version": kb_version or "", "latency_ms": float(latency_ms), "replica": self.replica}
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="kefu-question-log", daemon=True)
                self._thread.start()
        with self._flushed:
            self._pending += 1
        self._queue.put(row)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything queued so far is written (tests, shutdown)."""
        with self._flushed:
            self._flushed.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        if self._thread is not None:
            self.flush()

    def _run(self) -> None:
        while True:
            rows = [self._queue.get()]
            deadline = time.monotonic() + FLUSH_SECONDS
            try:
                while len(rows) < MAX_BATCH and (left := deadline - time.monotonic()) > 0:
                    rows.append(self._queue.get(timeout=left))
            except queue.Empty:
                pass
            try:
                with db.engine(self.settings).begin() as conn:
                    conn.execute(sa.insert(questions), rows)
            except Exception as e:  # noqa: BLE001 - the log must never stop answers; say why it lost rows
                log.warning("question log: %d rows not written: %s", len(rows), e)
            with self._flushed:
                self._pending -= len(rows)
                self._flushed.notify_all()


def recent(settings: Settings, limit: int = 100, route: str | None = None) -> list[LoggedQuestion]:
    """The newest logged questions, optionally only one route (e.g. "refused")."""
    q = sa.select(questions).order_by(questions.c.created_at.desc(), questions.c.id.desc()).limit(int(limit))
    if route:
        q = q.where(questions.c.route == route)
    with db.engine(settings).connect() as conn:
        rows = conn.execute(q).mappings().all()
    return [LoggedQuestion(r["id"], db.as_utc(r["created_at"]), r["role"], r["question"], r["route"], r["case_title"],
                           r["category"], r["confidence"], r["kb_version"], r["latency_ms"], r["replica"]) for r in rows]
