"""Lexical retrieval: BM25 over jieba tokens of the KB's own lexicon."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


class BM25:
    """BM25 (bm25s, sparse matrices) over pre-tokenised documents.

    The tokenizer is passed in, never defaulted: a whitespace/regex tokenizer would treat a
    whole Chinese sentence as one token and silently match nothing.
    """

    def __init__(self, doc_tokens: Sequence[Sequence[str]], tokenize: Callable[[str], list[str]], k1: float = 1.2, b: float = 0.75):
        import bm25s

        self.tokenize = tokenize
        self.n = len(doc_tokens)
        self._bm25 = bm25s.BM25(k1=k1, b=b)
        tokens = [list(t) or ["\u0000"] for t in doc_tokens]
        self._vocab = {t for doc in tokens for t in doc}
        self._bm25.index(tokens, show_progress=False)

    @classmethod
    def from_texts(cls, docs: Sequence[str], tokenize: Callable[[str], list[str]]) -> BM25:
        return cls([tokenize(d) for d in docs], tokenize)

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        known = [t for t in query_tokens if t in self._vocab]
        if not known or not self.n:
            return np.zeros(self.n, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)

    def score_text(self, text: str) -> np.ndarray:
        return self.scores(self.tokenize(text))
