"""Hybrid search over one index version: dense (e5, inner product) + lexical (jieba BM25),
fused, then rolled up into case and category scores."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from kefu.text import Lexicon, normalize, strip_markup
from kefu.types import Hit
from retrieval.embed import KefuEmbeddings
from retrieval.fuse import linear
from retrieval.lexical import BM25
from retrieval.store import IndexVersion


@dataclass(frozen=True)
class SearchParams:
    """Chosen on the dev set (`kefu eval --sweep`); see README "Retrieval tuning"."""

    lexical_weight: float = 0.10
    lexical_half: float = 6.0
    candidates: int = 200
    max_query_chars: int = 500


@dataclass
class SearchResult:
    query: str  # normalised
    tokens: list[str]
    hits: list[Hit]  # best first
    cases: list[tuple[str, float]]  # best first
    categories: list[tuple[str, float]]
    faq: tuple[str, float, str] | None  # (passage, cosine, matched question) of the closest FAQ phrasing
    oos: tuple[float, str] | None  # (cosine, example) of the closest out-of-scope example
    top_dense: float
    top_lexical: float
    scores: dict[str, float] = field(default_factory=dict)  # passage -> best fused score

    def case_rank(self) -> list[str]:
        return [c for c, _ in self.cases]


class Searcher:
    def __init__(self, version: IndexVersion, embedder: KefuEmbeddings, params: SearchParams | None = None):
        if embedder.name != version.model:
            raise ValueError(f"index built with {version.model}, embedder is {embedder.name}")
        self.version = version
        self.embedder = embedder
        self.params = params or SearchParams()
        cached = version.extra.get("lexical")
        if cached is None:
            lexicon = Lexicon(version.kb.get("words", ()), version.kb.get("synonyms", ()))
            cached = (lexicon, BM25(version.tokens, lexicon.tokenize))
            version.extra["lexical"] = cached
        self.lexicon, self.bm25 = cached

    def prepare(self, query: str) -> str:
        return self.lexicon.rewrite(normalize(strip_markup(query or ""), self.params.max_query_chars))

    def embed(self, text: str) -> np.ndarray:
        return self.embedder.encode_queries([text])[0]

    def search(self, query: str, qvec: np.ndarray | None = None) -> SearchResult:
        q = self.prepare(query)
        chunks = self.version.chunks
        n = len(chunks)
        if qvec is None:
            qvec = self.embed(q)
        tokens = self.lexicon.tokenize(q)

        # Dense candidates from FAISS (all of them for a normal-sized KB), lexical from BM25.
        k = min(self.params.candidates, n)
        dense_scores, dense_ids = self.version.faiss_index.search(qvec.reshape(1, -1).astype(np.float32), k)
        lexical_all = self.bm25.scores(tokens)
        if lexical_all.any():
            lex_top = np.argpartition(-lexical_all, k - 1)[:k] if k < n else np.arange(n)
            lex_top = lex_top[lexical_all[lex_top] > 0]
        else:
            lex_top = np.array([], dtype=np.int64)
        cand = np.unique(np.concatenate([dense_ids[0][dense_ids[0] >= 0], lex_top]))
        dense = self.version.vectors[cand] @ qvec
        lexical = lexical_all[cand]
        fused = linear(dense, lexical, self.params.lexical_weight, self.params.lexical_half)

        order = np.argsort(-fused, kind="stable")
        hits = [Hit(chunks[cand[i]], float(fused[i]), float(dense[i]), float(lexical[i]), r)
                for r, i in enumerate(order, start=1)]

        case_best: dict[str, float] = {}
        cat_best: dict[str, float] = defaultdict(lambda: -1.0)
        passage_best: dict[str, float] = {}
        for h in hits:
            c = h.chunk
            if c.case and h.score > case_best.get(c.case, -1.0):
                case_best[c.case] = h.score
            if c.category:
                cat_best[c.category] = max(cat_best[c.category], h.score)
            passage_best.setdefault(c.passage, h.score)

        faq = oos = None
        if len(self.version.questions):
            sims = self.version.question_vectors @ qvec
            is_oos = self.version.extra.get("oos_mask")
            if is_oos is None:
                is_oos = np.array([q["passage"] == "oos" for q in self.version.questions])
                self.version.extra["oos_mask"] = is_oos
            if (~is_oos).any():
                j = int(np.argmax(np.where(is_oos, -np.inf, sims)))
                faq = (self.version.questions[j]["passage"], float(sims[j]), self.version.questions[j]["text"])
            if is_oos.any():
                j = int(np.argmax(np.where(is_oos, sims, -np.inf)))
                oos = (float(sims[j]), self.version.questions[j]["text"])

        return SearchResult(
            query=q, tokens=tokens, hits=hits,
            cases=sorted(case_best.items(), key=lambda kv: -kv[1]),
            categories=sorted(cat_best.items(), key=lambda kv: -kv[1]),
            faq=faq, oos=oos, top_dense=float(dense.max()) if len(dense) else 0.0,
            top_lexical=float(lexical.max()) if len(lexical) else 0.0, scores=passage_best,
        )
