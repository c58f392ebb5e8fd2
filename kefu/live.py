"""The live assistant: follows the live index version and swaps without a restart."""

from __future__ import annotations

import logging
import threading
import time

from answer.decide import DecisionParams
from answer.respond import Assistant
from core.errors import IndexError_
from core.settings import Settings
from index.store import VersionStore, newest_intact
from models.embed import KefuEmbeddings
from retrieval.search import Searcher

log = logging.getLogger(__name__)


class LiveAssistant:
    """The Assistant of the live version, rebuilt when the live version changes.

    Each question takes the Assistant current at its start, so an answer is always built
    from one version even when an ingest or rollback swaps another in meanwhile. Which
    version is live is read on every question from version folders (CURRENT, a small file),
    and at most every KEFU_LIVE_POLL_SECONDS from Milvus (the alias: one call, not one per
    question). A new version is loaded by one thread while the others keep answering from
    the old one. If the live version cannot be loaded, the last good one keeps serving; on a
    (re)start with nothing loaded yet, the newest intact version of this model serves. The
    pointer is left as it is (a person decides: `kefu rollback` or `kefu ingest`);
    `last_error` says what is served instead and why, and is empty again as soon as the
    live version is the one served.
    """

    def __init__(self, settings: Settings, embedder: KefuEmbeddings, store: VersionStore):
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.params = DecisionParams.from_settings(settings)
        self._lock = threading.Lock()  # held by the one thread loading a version
        self._assistant: Assistant | None = None
        self._failed: tuple[str | None, str] | None = None  # (live name, why) last found unloadable
        self._polled: tuple[float, str | None, str] | None = None  # (when, live, problem)
        self.last_error = ""

    def moved(self) -> None:
        """This process moved the live version (ingest, rollback): check again at the next question."""
        self._polled = None

    def _load(self, name: str) -> Assistant:
        version = self.store.read(name, expected_model=self.embedder.name)
        return Assistant(Searcher(version, self.embedder, self.settings.max_query_chars), self.params)

    def _live(self) -> tuple[str | None, str]:
        """(live version, why it cannot be read); from a shared store, polled."""
        polled = self._polled
        if self.store.kind != "faiss" and polled is not None and self._assistant is not None \
                and time.monotonic() - polled[0] < self.settings.live_poll_seconds:
            return polled[1], polled[2]
        try:
            live, problem = self.store.live(), ""
        except IndexError_ as e:  # the pointer itself is unreadable (or the store unreachable)
            live, problem = None, str(e)
        self._polled = (time.monotonic(), live, problem)
        return live, problem

    def current(self) -> Assistant:
        live, problem = self._live()
        served = self._assistant
        if served is not None:
            if live == served.version.name:
                if self._failed is not None:
                    self._failed, self.last_error = None, ""
                return served
            if self._failed == (live, problem) or not self._lock.acquire(blocking=False):
                return served  # known bad (not checksummed again on every question), or being loaded by another thread
        else:
            self._lock.acquire()
        try:
            return self._swap(live, problem)
        finally:
            self._lock.release()

    def _swap(self, live: str | None, problem: str) -> Assistant:
        """Load the live version (the caller holds the lock)."""
        if self._assistant is not None and self._assistant.version.name == live:
            return self._assistant  # another thread loaded it meanwhile
        try:
            if live is None and not problem:
                raise self.store.no_live_version()
            if problem:
                raise IndexError_(problem)
            self._assistant, self._failed, self.last_error = self._load(live), None, ""
            return self._assistant
        except IndexError_ as e:
            if live is None and not problem:
                raise  # nothing is live: say so, serve nothing by guesswork
            self._failed = (live, problem)
            if self._assistant is None:
                fallback = newest_intact(self.store, self.embedder.name, exclude=(live,) if live else ())
                if fallback is None:
                    raise
                self._assistant = self._load(fallback)
                self.last_error = (f"线上索引版本无法加载（{e}）：现由最近的完整版本 {fallback} 提供服务。"
                                   "运行 `kefu rollback` 把它设为线上版本，或运行 `kefu ingest` 重新构建")
            else:
                self.last_error = f"最新的索引版本加载失败，仍由上一版本 {self._assistant.version.name} 继续服务：{e}"
            log.warning("%s", self.last_error)
            return self._assistant
