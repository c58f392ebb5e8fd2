"""The systems compared: kefu and four baselines on the same KB and embedding model.

A baseline's case is the case of its top passage; its ranked cases are the cases of its
ranked passages, first appearance kept. Baselines never refuse.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import numpy as np

from core.kb import KnowledgeBase
from eval.devset import DevItem
from eval.metrics import Prediction
from retrieval.fuse import rrf
from retrieval.lexical import BM25
from retrieval.search import Searcher


def _dedupe(items) -> tuple:
    return tuple(dict.fromkeys(items))


class KefuSystem:
    """Kefu itself: `asker` is a `kefu.Kefu` (or an `answer.respond.Assistant` when tuning)."""

    name = "kefu"

    def __init__(self, asker):
        self.asker = asker
        self.unlogged = {"log": False} if hasattr(asker, "logged_questions") else {}  # dev-set rows are no user's questions

    def predict(self, item: DevItem) -> Prediction:
        answer = self.asker.ask(item.query, "agent", history=item.history, **self.unlogged)
        if answer.case is None:
            # A refusal holds the first place with no case; the cases it offers come after.
            offered = tuple(a.title for a in answer.alternatives if a.title)
            return Prediction((None, *offered), None, True, answer.latency_ms, alternatives=offered)
        # The cases in the order a person sees them: the answer's, the alternatives offered,
        # the other issues found, then the cited passages' and the related cases.
        alternatives = tuple(a.title for a in answer.alternatives if a.title)
        also = tuple(x.case.title for x in answer.also if x.case.title)
        # A category-level answer holds the first place with no case: a case among its
        # citations is shown, but it is not the answer's.
        shown = [answer.case.title, *(c for c in (*alternatives, *also, *(c.case for c in answer.citations), *answer.related) if c)]
        return Prediction(_dedupe(shown), answer.case.category, False, answer.latency_ms,
                          answer.confidence, alternatives, also)


class ChunkRanker:
    """Ranks the index's own chunks by one signal: "dense" (cosine) or "bm25"."""

    def __init__(self, mode: str, searcher: Searcher):
        self.name = self.mode = mode
        self.searcher = searcher
        self.chunks = searcher.chunks

    def predict(self, item: DevItem) -> Prediction:
        query = item.query
        t = time.perf_counter()
        scores = self.searcher.dense_scores(query) if self.mode == "dense" else self.searcher.lexical_scores(query)
        order = np.argsort(-scores, kind="stable")
        ms = (time.perf_counter() - t) * 1000
        ranked = [self.chunks[i] for i in order[:50]]
        if self.mode == "bm25" and scores[order[0]] <= 0:
            ranked = []  # no word in common: BM25 has no top passage
        return Prediction(_dedupe(c.case for c in ranked if c.case), ranked[0].category if ranked else None, False, ms)


# --- Baselines over the raw KB files, as their frameworks split them ------------------------------


def kb_texts(kb_dir: Path) -> list[tuple[str, str]]:
    """(relative path, raw text) of the KB files a generic loader would read."""
    out = []
    for p in sorted(kb_dir.rglob("*")):
        if p.is_file() and p.suffix in {".md", ".yaml", ".yml", ".txt", ".csv"} and p.name != "README.md" and "dict" not in p.parts:
            out.append((p.relative_to(kb_dir).as_posix(), p.read_text(encoding="utf-8")))
    return out


class CaseMapper:
    """Maps a raw-text chunk to cases by the KB's metadata: the service-scope items, FAQ ids
    and playbook files it contains, most frequent first."""

    def __init__(self, kb: KnowledgeBase):
        self.scope_keys = [(c.title + ":", c.title) for c in kb.cases]
        self.faq_case = {f.id: (f.case, f.category) for f in kb.faqs}
        self.playbook_case = {p.file: (p.case, p.category) for p in kb.playbooks}
        self.case_category = kb.case_category()
        self.categories = kb.categories

    def map(self, source: str, text: str) -> tuple[tuple[str, ...], str | None]:
        if source in self.playbook_case:
            case, category = self.playbook_case[source]
            return (case,), category
        found: list[tuple[str | None, str | None]] = []
        for fid in re.findall(r"id:\s*([A-Za-z][\w-]*)", text):
            if fid in self.faq_case:
                found.append(self.faq_case[fid])
        for key, title in self.scope_keys:
            if key in text:
                found.append((title, self.case_category[title]))
        if not found:
            cat = next((c for c in self.categories if c in text), None)
            return (), cat
        counts = Counter(c for c, _ in found if c)
        cases = tuple(c for c, _ in counts.most_common())
        top_cat = Counter(cat for _, cat in found if cat).most_common(1)
        return cases, top_cat[0][0] if top_cat else None


class FrameworkBaseline:
    """LangChain-style pipelines: split raw files, embed with the same model, retrieve."""

    def __init__(self, name: str, searcher: Searcher, kb_dir: Path, splitter, hybrid: bool, top_k: int):
        import warnings

        with warnings.catch_warnings():
            # The package announces its sunset on import; its FAISS store is what the docs teach.
            warnings.simplefilter("ignore", DeprecationWarning)
            from langchain_community.vectorstores import FAISS

        self.name = name
        self.top_k = top_k
        self.hybrid = hybrid
        self.mapper = CaseMapper(searcher.version.kb)
        self.searcher = searcher
        texts, metas = [], []
        for source, text in kb_texts(kb_dir):
            for piece in splitter.split_text(text):
                texts.append(piece)
                metas.append({"source": source})
        self.texts, self.metas = texts, metas
        self.labels = [self.mapper.map(m["source"], t) for t, m in zip(texts, metas)]
        self.store = FAISS.from_texts(texts, embedding=searcher.embedder, metadatas=[{**m, "i": i} for i, m in enumerate(metas)])
        if hybrid:
            self.bm25 = BM25.from_texts(texts, searcher.tokenize)

    def predict(self, item: DevItem) -> Prediction:
        query = item.query
        t = time.perf_counter()
        if not self.hybrid:
            docs = self.store.similarity_search(query, k=self.top_k)
            order = [d.metadata["i"] for d in docs]
        else:
            # EnsembleRetriever semantics: weighted reciprocal rank fusion of BM25 and FAISS, 0.5/0.5.
            n = len(self.texts)
            docs = self.store.similarity_search(query, k=n)
            dense = np.zeros(n)
            for rank, d in enumerate(docs):
                dense[d.metadata["i"]] = n - rank
            lexical = self.bm25.score_text(self.searcher.prepare(query))
            fused = rrf([dense, lexical], [0.5, 0.5])
            order = list(np.argsort(-fused, kind="stable")[: self.top_k])
        ms = (time.perf_counter() - t) * 1000
        cases = _dedupe(c for i in order for c in self.labels[i][0])
        category = self.labels[order[0]][1] if order else None
        return Prediction(cases, category, False, ms)


def langchain_naive(searcher: Searcher, kb_dir: Path) -> FrameworkBaseline:
    """What LangChain's documentation teaches: RecursiveCharacterTextSplitter defaults,
    the same embeddings, FAISS.similarity_search."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return FrameworkBaseline("langchain_naive", searcher, kb_dir, RecursiveCharacterTextSplitter(), hybrid=False, top_k=5)


def chatchat_like(searcher: Searcher, kb_dir: Path) -> FrameworkBaseline:
    """Langchain-Chatchat's published settings: Chinese recursive splitting at 750 characters
    with 150 overlap, FAISS + jieba BM25 combined 0.5/0.5, top 3."""
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        separators=["\n\n", "\n", "。|！|？", r"\.\s|\!\s|\?\s", r"；|;\s", r"，|,\s"],
        is_separator_regex=True, keep_separator=True, chunk_size=750, chunk_overlap=150,
    )
    return FrameworkBaseline("chatchat_like", searcher, kb_dir, splitter, hybrid=True, top_k=3)
