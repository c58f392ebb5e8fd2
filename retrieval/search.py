"""Hybrid search over one index version: dense (e5, inner product) + lexical (jieba BM25),
fused, then rolled up into case and category scores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.text import Lexicon, normalize, strip_markup
from core.types import CaseScore, Chunk, Hit, Match
from index.versions import IndexVersion
from models.embed import KefuEmbeddings
from retrieval.fuse import linear
from retrieval.lexical import BM25


@dataclass(frozen=True)
class SearchParams:
    """Fusion constants chosen on the dev set (`python -m eval.tune`); see README "Retrieval tuning"."""

    lexical_weight: float = 0.10
    lexical_half: float = 6.0
    candidates: int = 200


@dataclass(frozen=True)
class CategoryScore:
    category: str
    score: float


@dataclass(frozen=True)
class SearchResult:
    query: str  # normalised
    tokens: tuple[str, ...]  # what lexical search matched on
    hits: tuple[Hit, ...]  # best first
    cases: tuple[CaseScore, ...]  # a case scores its best chunk; best first
    categories: tuple[CategoryScore, ...]
    faq: Match | None  # the closest FAQ phrasing
    oos: Match | None  # the closest out-of-scope example
    passage_scores: dict[str, float]  # passage -> best fused score
    labels: tuple[str, ...] = ()  # the classifier's labels (cases, "cat:<category>|<faq>", "oos")
    logits: tuple[float, ...] = ()  # the classifier's logit for each label
    gram_logits: tuple[float, ...] = ()  # the gram classifier's, same labels


@dataclass(frozen=True)
class _Keys:
    """One attribute of every chunk (its case, category or passage) as integer ids, -1 for none."""

    names: tuple[str, ...]
    ids: np.ndarray

    @classmethod
    def of(cls, values: list[str | None]) -> _Keys:
        names = tuple(dict.fromkeys(v for v in values if v))
        at = {n: i for i, n in enumerate(names)}
        return cls(names, np.array([at[v] if v else -1 for v in values], dtype=np.int64))

    def first(self, ranked: np.ndarray, scores: np.ndarray) -> dict[str, float]:
        """Each key's score at its first (best) place in `ranked`, in order of first appearance."""
        ids = self.ids[ranked]
        found, where = np.unique(ids, return_index=True)
        keep = found >= 0
        firsts = np.sort(where[keep])
        return {self.names[ids[i]]: float(scores[i]) for i in firsts}


class Searcher:
    """Searches one index version; the lexical side is built once per version."""

    def __init__(self, version: IndexVersion, embedder: KefuEmbeddings, max_query_chars: int,
                 params: SearchParams | None = None):
        if embedder.name != version.model:
            raise ValueError(f"index built with {version.model}, embedder is {embedder.name}")
        self.version = version
        self.embedder = embedder
        self.max_query_chars = max_query_chars
        self.params = params or SearchParams()
        cached = version.extra.get("lexical")
        if cached is None:
            lexicon = Lexicon(version.kb.words, version.kb.synonyms)
            cached = (lexicon, BM25(version.tokens, lexicon.tokenize))
            version.extra["lexical"] = cached
        self.lexicon, self._bm25 = cached
        kinds = np.array([p.kind for p in version.phrasings])
        self._faq_mask, self._oos_mask = kinds == "faq", kinds == "oos"
        keys = version.extra.get("keys")
        if keys is None:
            keys = version.extra["keys"] = {f: _Keys.of([getattr(c, f) for c in version.chunks])
                                            for f in ("case", "category", "passage")}
        self._keys = keys

    @property
    def chunks(self) -> list[Chunk]:
        return self.version.chunks

    def prepare(self, query: str) -> str:
        """The query as both searches see it: markup out, normalised, capped, English rewritten."""
        return self.lexicon.rewrite(normalize(strip_markup(query or ""), self.max_query_chars))

    def tokenize(self, text: str) -> list[str]:
        return self.lexicon.tokenize(text)

    def terms(self, tokens) -> tuple[str, ...]:
        """Tokens with their synonyms, longest first: what to mark in a cited passage."""
        return tuple(self.lexicon.with_synonyms(tokens))

    def embed(self, text: str) -> np.ndarray:
        return self.embedder.encode_queries([text])[0]

    def embed_many(self, texts: list[str]) -> np.ndarray:
        """One encode for several texts: batched, they cost little more than one."""
        return self.embedder.encode_queries(texts)

    def dense_scores(self, query: str) -> np.ndarray:
        """Cosine of every chunk to the prepared query (the dense baseline ranks by this alone)."""
        return self.version.store.score(self.embed(self.prepare(query)), np.arange(len(self.chunks)))

    def lexical_scores(self, query: str) -> np.ndarray:
        """BM25 of every chunk for the prepared query (the lexical baseline ranks by this alone)."""
        return self._bm25.scores(self.tokenize(self.prepare(query)))

    def search(self, query: str, qvec: np.ndarray | None = None) -> SearchResult:
        q = self.prepare(query)
        chunks = self.version.chunks
        n = len(chunks)
        if qvec is None:
            qvec = self.embed(q)
        tokens = self.tokenize(q)

        # Dense candidates from the vector store (all of them for a normal-sized KB), lexical from BM25.
        k = min(self.params.candidates, n)
        dense_ids, _ = self.version.store.search(qvec, k)
        lexical_all = self._bm25.scores(tokens)
        if lexical_all.any():
            lex_top = np.argpartition(-lexical_all, k - 1)[:k] if k < n else np.arange(n)
            lex_top = lex_top[lexical_all[lex_top] > 0]
        else:
            lex_top = np.array([], dtype=np.int64)
        cand = np.unique(np.concatenate([dense_ids, lex_top]))
        dense = self.version.store.score(qvec, cand)
        lexical = lexical_all[cand]
        fused = linear(dense, lexical, self.params.lexical_weight, self.params.lexical_half)

        order = np.argsort(-fused, kind="stable")
        hits = tuple(Hit(chunks[cand[i]], float(fused[i]), float(dense[i]), float(lexical[i]), r)
                     for r, i in enumerate(order, start=1))
        # Hits are best first, so a case's (category's, passage's) best is its first hit.
        ranked, scores = cand[order], fused[order]
        case_best = self._keys["case"].first(ranked, scores)
        cat_best = self._keys["category"].first(ranked, scores)
        passage_best = self._keys["passage"].first(ranked, scores)

        sims = self.version.phrasing_vectors @ qvec
        return SearchResult(
            query=q, tokens=tuple(tokens), hits=hits,
            cases=tuple(CaseScore(t, s) for t, s in sorted(case_best.items(), key=lambda kv: -kv[1])),
            categories=tuple(CategoryScore(c, s) for c, s in sorted(cat_best.items(), key=lambda kv: -kv[1])),
            faq=self._closest(sims, self._faq_mask), oos=self._closest(sims, self._oos_mask), passage_scores=passage_best,
            labels=self.version.classifier.labels, logits=tuple(float(x) for x in self.version.classifier.logits(qvec)),
            gram_logits=tuple(float(x) for x in self.version.classifier.lexical.logits(query)),
        )

    def _closest(self, sims: np.ndarray, mask: np.ndarray) -> Match | None:
        if not mask.any():
            return None
        j = int(np.argmax(np.where(mask, sims, -np.inf)))
        p = self.version.phrasings[j]
        return Match(p.passage, float(sims[j]), p.text)
