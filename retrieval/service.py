"""The live assistant: loads the current index version and follows swaps without a restart."""

from __future__ import annotations

import logging
import threading

from kefu.errors import IndexError_
from kefu.settings import Settings
from kefu.types import Answer
from retrieval import store
from retrieval.answer import AnswerParams, Assistant
from retrieval.embed import KefuEmbeddings, load_embeddings
from retrieval.search import Searcher, SearchParams

log = logging.getLogger(__name__)


class Service:
    """Holds the embedder (loaded once) and the Assistant of the live version.

    Each question takes the Assistant current at its start, so an answer is always built
    from one version even when an ingest or rollback swaps another in meanwhile. If the new
    version cannot be loaded, the last good one keeps serving and `last_error` says why.
    """

    def __init__(self, settings: Settings, embedder: KefuEmbeddings | None = None,
                 search_params: SearchParams | None = None, answer_params: AnswerParams | None = None, progress=None):
        self.settings = settings
        self.embedder = embedder or load_embeddings(settings, progress)
        self.search_params = search_params or SearchParams(max_query_chars=settings.max_query_chars)
        self.answer_params = answer_params or AnswerParams(oos_threshold=settings.oos_threshold,
                                                           faq_threshold=settings.faq_threshold)
        self._lock = threading.Lock()
        self._assistant: Assistant | None = None
        self.last_error: str = ""

    def assistant(self) -> Assistant:
        live = store.current_version(self.settings.index_dir)
        with self._lock:
            if self._assistant is None or (live and live != self._assistant.version.name):
                try:
                    version = store.read_version(self.settings.index_dir, live, expected_model=self.embedder.name)
                    self._assistant = Assistant(Searcher(version, self.embedder, self.search_params), self.answer_params)
                    self.last_error = ""
                except IndexError_ as e:
                    if self._assistant is None:
                        raise
                    self.last_error = str(e)
                    log.warning("keeping index %s: %s", self._assistant.version.name, e)
            return self._assistant

    def ask(self, query: str, role: str = "agent", k: int = 3) -> Answer:
        return self.assistant().ask(query, role, k=k)

    def warmup(self) -> None:
        """The first few encodes of a new process are slow (kernel set-up); pay that before
        the first user's question, not during it."""
        for text in ("你好", "订单怎么还没发货呢", "物流显示已经签收了但是我一直没有收到包裹怎么办"):
            self.embedder.encode_queries([text])
