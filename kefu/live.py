"""The live assistant: follows the current index version and swaps without a restart."""

from __future__ import annotations

import logging
import threading

from answer.decide import DecisionParams
from answer.respond import Assistant
from core.errors import IndexError_
from core.settings import Settings
from index import versions
from models.embed import KefuEmbeddings
from retrieval.search import Searcher

log = logging.getLogger(__name__)


class LiveAssistant:
    """The Assistant of the live version, rebuilt when CURRENT moves.

    Each question takes the Assistant current at its start, so an answer is always built
    from one version even when an ingest or rollback swaps another in meanwhile. If the new
    version cannot be loaded, the last good one keeps serving and `last_error` says why.
    """

    def __init__(self, settings: Settings, embedder: KefuEmbeddings):
        self.settings = settings
        self.embedder = embedder
        self.params = DecisionParams.from_settings(settings)
        self._lock = threading.Lock()
        self._assistant: Assistant | None = None
        self.last_error = ""

    def current(self) -> Assistant:
        index_dir = self.settings.index_dir
        live = versions.current_version(index_dir)
        with self._lock:
            if self._assistant is None or (live and live != self._assistant.version.name):
                try:
                    version = versions.read_version(index_dir, live, expected_model=self.embedder.name)
                    searcher = Searcher(version, self.embedder, self.settings.max_query_chars)
                    self._assistant = Assistant(searcher, self.params)
                    self.last_error = ""
                except IndexError_ as e:
                    if self._assistant is None:
                        raise
                    self.last_error = str(e)
                    log.warning("keeping index %s: %s", self._assistant.version.name, e)
            return self._assistant
