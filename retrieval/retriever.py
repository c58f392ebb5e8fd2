"""The hybrid search as a LangChain `BaseRetriever`, so it plugs into LangChain chains."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever


class KefuRetriever(BaseRetriever):
    """Ranked KB chunks as `Document`s; metadata carries what a citation needs.

    `kefu` is a `kefu.Kefu` (anything whose `.search(query)` returns a
    `retrieval.search.SearchResult`); each call searches the version live at that moment,
    so a swap is picked up without rebuilding the retriever.
    """

    kefu: Any
    k: int = 5

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        docs = []
        for h in self.kefu.search(query).hits[: self.k]:
            c = h.chunk
            docs.append(Document(
                page_content=c.text, id=c.id,
                metadata={"source": c.source, "section": c.section, "case": c.case, "category": c.category,
                          "passage": c.passage, "kind": c.kind, "kb_version": c.kb_version,
                          "score": h.score, "dense": h.dense, "lexical": h.lexical},
            ))
        return docs
