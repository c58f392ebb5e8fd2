"""`Kefu`: the library's one entry point. The CLI, the web pages and the evaluation runner
call it and nothing below it.

    from kefu import Kefu
    kefu = Kefu()                      # settings from KEFU_* variables
    kefu.ingest()                      # validate kb/, embed what changed, swap a version in
    answer = kefu.ask("物流显示签收了但我没收到", role="customer")
    print(answer.case.title, answer.answer)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.access import LoginGuard, LoginResult
from core.errors import BusyError, IndexError_, InputError, ValidationError
from core.kb import FAQ, Case, FAQEntry, Playbook, PlaybookItem
from core.settings import Settings, load_settings
from core.types import Answer, Conversation, Hooks
from index.manifest import FORMAT, stored_format
from index.status import IndexStatus, index_status
from index.store import VersionStore, live_or_none
from ingest import faq_form, playbook_form, restore, staging, templates
from ingest.pipeline import DocumentDiff, IngestReport, preview, run_ingest
from ingest.status import DocumentStatus, document_status
from ingest.store import open_versions
from models.build import remove_leftovers as remove_model_leftovers
from records import feedback, handoff

if TYPE_CHECKING:  # the model and search stack (torch, FAISS, LangChain) load on first use:
    # `kefu ingest` on an unchanged KB and `kefu rollback` never need them.
    from answer.hittest import HitTest
    from answer.respond import Assistant
    from kefu.live import LiveAssistant
    from models.batch import BatchStats
    from models.embed import KefuEmbeddings
    from records.questions import LoggedQuestion, QuestionLog
    from retrieval.search import Searcher, SearchResult


@dataclass(frozen=True)
class Preview:
    """What the KB folder holds and how it differs from the live version (nothing embedded)."""

    chunks: int
    faqs: int
    playbooks: int
    documents: tuple[DocumentDiff, ...]


# The first encodes of a new process are slow (kernel set-up): pay that before a user waits.
_WARMUP = ("你好", "订单怎么还没发货呢", "物流显示已经签收了但是我一直没有收到包裹怎么办")
# Why a conversation went to a human when its last answer did not say.
_ASKED_FOR_HUMAN = "用户要求转人工"


class Kefu:
    """Asks, ingests, rolls back and records feedback for one set of settings.

    The embedding model is loaded on first need and kept; asking follows the live index
    version, so an ingest or rollback (from here or another process) is served on the next
    question without a restart.
    """

    _shared: dict[Settings, Kefu] = {}
    _shared_lock = threading.Lock()

    @classmethod
    def shared(cls, settings: Settings, progress: Callable[[str], None] | None = None) -> Kefu:
        """The one `Kefu` of this process for these settings: `kefu serve` loads the model and
        the index into it before the server starts, and the pages then use that same one."""
        with cls._shared_lock:
            if settings not in cls._shared:
                cls._shared[settings] = cls(settings, progress=progress)
            return cls._shared[settings]

    def __init__(self, settings: Settings | None = None, *, embedder: KefuEmbeddings | None = None,
                 progress: Callable[[str], None] | None = None, batching: bool = False):
        """`batching`: encode the questions of concurrent callers together (a server with
        many clients; see models/batch.py). One caller at a time gains nothing from it."""
        self.settings = settings or load_settings()
        self._embedder = embedder
        self._progress = progress
        self._batching = batching
        self._on_batch: Callable[[int], None] | None = None
        self._questions: QuestionLog | None = None
        self._live: LiveAssistant | None = None
        self._lock = threading.Lock()
        self._logins = LoginGuard()

    # --- the model and the live version ------------------------------------------------------

    @property
    def embedder(self) -> KefuEmbeddings:
        with self._lock:
            if self._embedder is None:
                from models.embed import load_embeddings

                self._embedder = load_embeddings(self.settings, self._progress)
            if self._batching and not getattr(self._embedder, "batching", False):
                from models.batch import MicroBatcher

                self._embedder = MicroBatcher(self._embedder, self.settings.batch_window_ms / 1000, self.settings.batch_max,
                                              on_batch=self._on_batch)
            return self._embedder

    @property
    def batching(self) -> bool:
        return self._batching

    def on_encode_batch(self, callback: Callable[[int], None]) -> None:
        """Call `callback(size)` after each batched encode (metrics)."""
        self._on_batch = callback
        if getattr(self._embedder, "batching", False):
            self._embedder.on_batch = callback

    def close(self) -> None:
        """Finish background work (a server stopping): write the queued question log."""
        if self._questions is not None:
            self._questions.close()

    def encode_stats(self) -> BatchStats | None:
        """Encodes and questions encoded so far, when batching."""
        e = self._embedder
        return e.stats() if getattr(e, "batching", False) else None

    def assistant(self) -> Assistant:
        """The Assistant of the live version (raises IndexError_ when there is none)."""
        if self._live is None:
            from kefu.live import LiveAssistant

            self.tidy()
            embedder = self.embedder
            with self._lock:
                if self._live is None:
                    self._live = LiveAssistant(self.settings, embedder, self.store)
        return self._live.current()

    def _moved(self) -> None:
        if self._live is not None:
            self._live.moved()

    @property
    def store(self) -> VersionStore:
        """Where the index versions are (KEFU_VECTOR_STORE): folders, or Milvus."""
        return open_versions(self.settings)

    @property
    def last_error(self) -> str:
        """What is served instead of the live version and why (e.g. the newest intact version
        after a restart with a damaged one), or empty when the live version is served."""
        return self._live.last_error if self._live else ""

    def tidy(self) -> None:
        """Remove what killed runs left behind: temporary version folders, CURRENT temp files,
        half-built models. Skipped while an ingest or a model build is running."""
        try:
            with self.store.lock(timeout=0):
                self.store.remove_leftovers()
                restore.remove_leftovers(self.settings.kb_dir)
        except (BusyError, OSError):
            pass
        try:
            remove_model_leftovers(self.settings.models_dir)
        except OSError:
            pass

    def warmup(self, trace: bool = True) -> None:
        """Load the model and run it once. With `trace`, also build the faster question encoder
        (about 1.5 s): worth it for a server or a batch, not for one `kefu ask`."""
        if trace:
            self.embedder.trace_queries()
        for text in _WARMUP:
            self.embedder.encode_queries([text])

    def needs_build(self) -> bool:
        """No index yet, or one built by another embedding model (KEFU_EMBEDDING_MODEL changed):
        a server builds one at start rather than stopping at a page nobody can fix it from."""
        store = self.store
        try:
            live = store.live()
        except IndexError_:
            return False  # an unreadable CURRENT is reported (and an intact version served), not replaced
        if live is None:
            return True  # no index, or versions without CURRENT: an ingest restores one (reusing vectors)
        try:
            manifest = store.manifest(live)
        except IndexError_:
            if store.kind != "faiss":
                return False
            fmt = stored_format(self.settings.index_dir / "versions" / live)
            return fmt is not None and fmt != FORMAT  # built by an older Kefu: rebuild; corrupt: report
        return manifest.model != self.settings.embedding_model

    # --- asking ----------------------------------------------------------------------------------

    def ask(self, question: str, role: str = "agent", *, history: Sequence[str] = (), case: str | None = None,
            k: int = 3, log: bool = True) -> Answer:
        """Answer `question`, the customer's latest message, for an agent or a customer.
        `history` holds the customer's earlier messages in the conversation, oldest first: an
        elliptic follow-up ("那运费呢") is read with them, a new topic on its own. `case`
        answers for that case instead of the one decided (an alternative the user picked).
        Logged (masked) when KEFU_QUESTION_LOG is on, unless `log` is False (evaluation runs)."""
        answer = self.assistant().ask(question, role, k=k, case=case, history=history)
        if log and self.settings.question_log:
            self._question_log().record(
                role=role, question=question, route=answer.decision.route if answer.decision else "none",
                case=answer.case.title if answer.case else None, category=answer.case.category if answer.case else None,
                confidence=answer.confidence, kb_version=answer.kb_version, latency_ms=answer.latency_ms)
        return answer

    def _question_log(self) -> QuestionLog:
        with self._lock:
            if self._questions is None:
                from records.questions import QuestionLog

                self._questions = QuestionLog(self.settings)
            return self._questions

    def logged_questions(self, limit: int = 100, route: str | None = None) -> list[LoggedQuestion]:
        """The newest logged questions (route "refused": what the KB does not cover)."""
        if self._questions is not None:
            self._questions.flush()
        from records import questions

        return questions.recent(self.settings, limit, route)

    def search(self, question: str) -> SearchResult:
        """The ranked chunks and scores behind an answer (the hit-test, the LangChain retriever)."""
        return self.searcher().search(question)

    def hit_test(self, question: str) -> HitTest:
        """The ranked chunks in comparable numbers and the final verdict, for editors."""
        from answer.hittest import hit_test

        return hit_test(self.assistant(), question)

    def disabled_passages(self) -> tuple[str, ...]:
        """Passages an editor switched off, in the live version."""
        return self.assistant().version.kb.disabled

    def stage_switch(self, passage: str, enabled: bool) -> staging.StagedChange:
        """Switch a passage off (or on again) as a validated change to dict/disabled.txt; apply it to publish."""
        return staging.stage_switch(self.settings, passage, enabled)

    def searcher(self) -> Searcher:
        return self.assistant().searcher

    # --- the knowledge base --------------------------------------------------------------------

    def ingest(self, kb_dir: Path | None = None, hooks: Hooks | None = None) -> IngestReport:
        """Validate the KB and swap a new version in. The model is loaded only when something
        must be embedded: an unchanged KB is found out by hashing its files."""
        settings = self.settings.with_(kb_dir=Path(kb_dir)) if kb_dir else self.settings
        remove_model_leftovers(settings.models_dir)
        try:
            return run_ingest(settings, embedder=self._embedder, hooks=hooks, load_embedder=lambda: self.embedder)
        finally:
            self._moved()

    def rollback(self, restore_kb: bool = False, kb_dir: Path | None = None) -> restore.RollbackReport:
        """Back to the version that was live before the current one. With `restore_kb`, the KB
        folder gets back the files that version was built from (all at once), so the next
        ingest cannot publish again what was rolled back; without, the report lists how the
        KB folder differs from the version now live."""
        try:
            return restore.rollback(self.settings, restore_kb=restore_kb, kb_dir=Path(kb_dir) if kb_dir else None)
        finally:
            self._moved()

    def restore_kb(self, kb_dir: Path | None = None) -> tuple[restore.FileChange, ...]:
        """Put the KB folder back to the live version's sources; returns the differences undone."""
        return restore.restore_live_sources(self.settings, Path(kb_dir) if kb_dir else None)

    def kb_changes(self, kb_dir: Path | None = None) -> tuple[restore.FileChange, ...]:
        """How the KB folder differs from the sources of the live version."""
        store = self.store
        live = store.live()
        if live is None:
            raise store.no_live_version()
        store.verify(live)
        sources = store.sources(live)
        return restore.kb_changes(Path(kb_dir or self.settings.kb_dir), sources, self.settings.max_file_bytes)

    def status(self) -> IndexStatus:
        return index_status(self.store)

    def live_version(self) -> str | None:
        return live_or_none(self.store)

    def versions(self) -> list[str]:
        return self.store.names()

    def documents(self) -> list[DocumentStatus]:
        return document_status(self.settings)

    def editable_files(self) -> list[str]:
        return staging.editable_files(self.settings)

    def read_kb_file(self, rel: str) -> bytes:
        """A KB file's bytes for editing, read with ingest's checks (no link out, no device, bounded)."""
        return staging.read_kb_file(self.settings, rel)

    def upload_target(self, filename: str) -> str:
        return staging.upload_target(filename)

    def validate(self, kb_dir: Path | None = None) -> Preview:
        """Validate and split the KB folder without embedding or writing: what an ingest would change."""
        kb, chunks, diffs = preview(self.settings, kb_dir)
        return Preview(len(chunks), len(kb.faqs), len(kb.playbooks), tuple(diffs))

    def stage(self, rel: str, data: bytes) -> staging.StagedChange:
        """Validate the KB as it would be with `data` at `rel`; nothing is written."""
        return staging.stage(self.settings, rel, data)

    def stage_delete(self, rel: str) -> staging.StagedChange:
        """Validate the KB as it would be without `rel`; applied (deleted and ingested) like any change."""
        return staging.stage_delete(self.settings, rel)

    def faq_template(self, kind: str) -> bytes:
        """An FAQ spreadsheet to fill in ("csv" or "xlsx"): the columns ingest reads and one valid example row."""
        return {"csv": templates.faq_csv, "xlsx": templates.faq_xlsx}[kind]()

    def faq_form_files(self) -> list[str]:
        """FAQ files the form edits (YAML); spreadsheets are changed by upload."""
        return faq_form.form_files(self.settings, self.editable_files())

    def faq_entries(self, rel: str) -> list[FAQ]:
        return faq_form.entries(self.settings, rel)

    def taxonomy(self) -> tuple[list[str], list[Case]]:
        """Categories and cases of the service scope in the KB folder (the form's pickers)."""
        return faq_form.taxonomy(self.settings)

    def write_faq(self, rel: str, entry: FAQEntry, replace: str | None) -> bytes:
        """The FAQ file `rel` with `entry` in place of FAQ `replace` (appended when None); nothing is written."""
        return faq_form.write_entry(self.read_kb_file(rel), rel, entry, replace)

    def playbook_form_files(self) -> list[str]:
        """Playbook files the playbook form edits."""
        return playbook_form.form_files(self.editable_files())

    def playbook_cases(self) -> dict[str, str]:
        """Each playbook file the form edits, with its case title ("" when the file does not parse)."""
        out = {}
        for rel in self.playbook_form_files():
            try:
                out[rel] = self.playbook(rel).case
            except ValidationError:
                out[rel] = ""
        return out

    def playbook(self, rel: str) -> Playbook:
        """The playbook in `rel` as ingest reads it (ValidationError when it does not parse)."""
        return playbook_form.parse(self.read_kb_file(rel), rel)

    @staticmethod
    def write_playbook(playbook: Playbook) -> bytes:
        """The playbook file for `playbook` (loading it gives the same playbook); nothing is written."""
        return playbook_form.write(playbook)

    @staticmethod
    def playbook_place(data: bytes, line: int | None) -> str:
        """What the playbook form calls the field at `line` of a written playbook file ("" when unknown)."""
        return playbook_form.place(data, line)

    @staticmethod
    def playbook_item_rows(items: Sequence[PlaybookItem], escalate: bool = False) -> list[dict[str, str]]:
        """Playbook items as table rows to edit: text, cites joined by ", " (and `to` for escalations)."""
        return playbook_form.item_rows(items, escalate)

    @staticmethod
    def playbook_items(rows: Sequence[dict]) -> tuple[PlaybookItem, ...]:
        """Edited table rows back to items (cites split at commas and spaces; empty rows dropped)."""
        return playbook_form.items_from_rows(rows)

    @staticmethod
    def split_keywords(text: str) -> tuple[str, ...]:
        """Keywords typed in one field, split at commas, 、 and line breaks."""
        return playbook_form.split_keywords(text)

    @staticmethod
    def split_cites(text: str) -> tuple[str, ...]:
        """Passage ids typed in one field, split at commas, 、 and spaces."""
        return playbook_form.split_cites(text)

    @staticmethod
    def split_lines(text: str) -> tuple[str, ...]:
        return playbook_form.split_lines(text)

    @staticmethod
    def case_titles(scope: bytes) -> tuple[str, ...]:
        return faq_form.case_titles(scope)

    @staticmethod
    def faq_columns() -> tuple[templates.Column, ...]:
        return templates.COLUMNS

    def apply(self, change: staging.StagedChange, hooks: Hooks | None = None) -> IngestReport:
        """Write a staged change into the KB and ingest; on failure the KB is restored."""
        try:
            return staging.apply(self.settings, change, embedder=self._embedder, hooks=hooks, load_embedder=lambda: self.embedder)
        finally:
            self._moved()

    # --- staff access ------------------------------------------------------------------------------

    def login(self, entered: str, passwords: dict[str, str], clients: tuple[str, ...]) -> LoginResult:
        """Check a staff password against each role's ("agent", "editor"). Wrong ones are slowed
        down, then the client (its session and, when known, its address) is locked out for a
        while; every failure is logged, never the password."""
        return self._logins.attempt(entered, passwords, clients)

    # --- feedback --------------------------------------------------------------------------------

    def feedback(self, *, role: str, question: str, case: str | None, kb_version: str, rating: str,
                 comment: str = "") -> int:
        return feedback.record(self.settings, role=role, question=question, case=case, kb_version=kb_version,
                               rating=rating, comment=comment)

    def negative_feedback(self, limit: int = 100) -> list[feedback.Feedback]:
        return feedback.negative(self.settings, limit)

    # --- handing a conversation to a human ---------------------------------------------------------

    def handoff(self, conversation: Conversation) -> handoff.Handoff:
        """Record a customer's conversation for a human to take over; the returned record
        carries the reference number to show them. The team is the latest answer's (its
        case's, its likely category's), else the general desk."""
        if not conversation.turns:
            raise InputError("没有可以转交的对话：请先描述您的问题")
        last = next((t.answer for t in reversed(conversation.turns) if t.answer.team), None)
        if last is None:
            desk = self.assistant().version.kb.team_for(None)
            team, category, case, reason, version = desk.name if desk else "", None, None, "", self.live_version() or ""
        else:
            category = last.case.category if last.case else next((a.category for a in last.alternatives), None)
            team, case, reason, version = last.team, last.case.title if last.case else None, last.escalate_reason, last.kb_version
        messages = [handoff.HandoffMessage(t.question, t.answer.answer, t.answer.case.title if t.answer.case else None)
                    for t in conversation.turns]
        return handoff.record(self.settings, team=team, category=category, case=case, reason=reason or _ASKED_FOR_HUMAN,
                              messages=messages, kb_version=version)

    def handoffs(self, limit: int = 100) -> list[handoff.Handoff]:
        """The newest handoffs first."""
        return handoff.recent(self.settings, limit)
