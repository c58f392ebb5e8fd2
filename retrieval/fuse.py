"""Fusion of dense and lexical scores: small pure functions, constants explained."""

from __future__ import annotations

import numpy as np


def saturate(bm25: np.ndarray, half: float) -> np.ndarray:
    """Map BM25 scores into [0, 1): s / (s + half). A chunk scoring `half` gets 0.5.

    Unlike dividing by the query's best score, this keeps an absolute scale: a query whose
    best lexical match is weak (one common word) adds little, instead of a full point.
    """
    return bm25 / (bm25 + half)


def linear(dense: np.ndarray, lexical: np.ndarray, weight: float, half: float) -> np.ndarray:
    """Cosine plus `weight` times saturated BM25. Cosine margins between the right passage and
    the next are small (0.02-0.05 with e5), so a modest lexical weight breaks ties on exact
    domain words (京豆, 价保) without letting word overlap override meaning."""
    return dense + weight * saturate(lexical, half)


def rrf(rankings: list[np.ndarray], weights: list[float], k: int = 60) -> np.ndarray:
    """Weighted reciprocal rank fusion over score arrays of equal length.

    k=60 is the constant of Cormack et al. (2009): it damps the difference between the
    first few ranks so one list's top hit cannot dominate. Used by the chatchat-like baseline.
    """
    fused = np.zeros(len(rankings[0]), dtype=np.float64)
    for scores, w in zip(rankings, weights):
        order = np.argsort(-scores, kind="stable")
        ranks = np.empty(len(scores), dtype=np.int64)
        ranks[order] = np.arange(1, len(scores) + 1)
        fused += w / (k + ranks)
    return fused
