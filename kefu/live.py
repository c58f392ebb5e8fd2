"""The live assistant: follows the current index version and swaps without a restart."""

from __future__ import annotations

import logging
import threading

from answer.decide import DecisionParams
from answer.respond import Assistant
from core.errors import IndexError_
from core.settings import Settings
from index import versions
from index.current import current_version
from models.embed import KefuEmbeddings
from retrieval.search import Searcher

log = logging.getLogger(__name__)


class LiveAssistant:
    """The Assistant of the live version, rebuilt when CURRENT moves.

    Each question takes the Assistant current at its start, so an answer is always built
    from one version even when an ingest or rollback swaps another in meanwhile. If the live
    version cannot be loaded, the last good one keeps serving; on a (re)start with nothing
    loaded yet, the newest intact version of this model serves. CURRENT is left as it is
    (a person decides: `kefu rollback` or `kefu ingest`); `last_error` says what is served
    instead and why, and is empty again as soon as the live version is the one served.
    """

    def __init__(self, settings: Settings, embedder: KefuEmbeddings):
        self.settings = settings
        self.embedder = embedder
        self.params = DecisionParams.from_settings(settings)
        self._lock = threading.Lock()
        self._assistant: Assistant | None = None
        self._failed: tuple[str | None, str] | None = None  # (live name, why) last found unloadable
        self.last_error = ""

    def _load(self, name: str) -> Assistant:
        version = versions.read_version(self.settings.index_dir, name, expected_model=self.embedder.name)
        return Assistant(Searcher(version, self.embedder, self.settings.max_query_chars), self.params)

    def current(self) -> Assistant:
        index_dir = self.settings.index_dir
        try:
            live, problem = current_version(index_dir), ""
        except IndexError_ as e:  # CURRENT itself is unreadable
            live, problem = None, str(e)
        with self._lock:
            served = self._assistant.version.name if self._assistant else None
            if served is not None and live == served:
                self._failed, self.last_error = None, ""
                return self._assistant
            if self._assistant is not None and self._failed == (live, problem):
                return self._assistant  # known bad: do not checksum it again on every question
            try:
                if live is None and not problem:
                    raise versions.no_live_version(index_dir)
                if problem:
                    raise IndexError_(problem)
                self._assistant, self._failed, self.last_error = self._load(live), None, ""
                return self._assistant
            except IndexError_ as e:
                if live is None and not problem:
                    raise  # nothing is live: say so, serve nothing by guesswork
                self._failed = (live, problem)
                if self._assistant is None:
                    fallback = versions.newest_intact(index_dir, self.embedder.name, exclude=(live,) if live else ())
                    if fallback is None:
                        raise
                    self._assistant = self._load(fallback)
                    self.last_error = (f"线上索引版本无法加载（{e}）：现由最近的完整版本 {fallback} 提供服务。"
                                       "运行 `kefu rollback` 把它设为线上版本，或运行 `kefu ingest` 重新构建")
                else:
                    self.last_error = f"最新的索引版本加载失败，仍由上一版本 {self._assistant.version.name} 继续服务：{e}"
                log.warning("%s", self.last_error)
                return self._assistant
