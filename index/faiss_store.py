"""Vector stores behind one small protocol; FAISS in the version folder is the default.

Vectors are normalised, so inner product is cosine.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    import faiss

HNSW_MIN_CHUNKS = 20_000  # below this an exact flat scan is faster than a graph
HNSW_M = 32  # graph degree
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128  # recall vs. time at query time; 0.43 ms at 100k chunks (README, Benchmarks)
FAISS_FILE = "index.faiss"


class VectorStore(Protocol):
    """Nearest chunks (by position in the version's chunk list) to a normalised query vector."""

    def __len__(self) -> int: ...

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(positions, cosines) of the k nearest chunks, best first."""
        ...

    def score(self, query: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Exact cosines of the given chunks (lexical candidates need them too)."""
        ...


def index_type(n: int) -> str:
    return "hnsw" if n >= HNSW_MIN_CHUNKS else "flat"


def build_faiss(vectors: np.ndarray) -> faiss.Index:
    """Flat (exact) for KBs of normal size; HNSW past HNSW_MIN_CHUNKS keeps query latency
    flat as the KB grows."""
    import faiss  # on first use: listing and verifying versions needs no FAISS

    dim = vectors.shape[1]
    if index_type(len(vectors)) == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


class FaissStore:
    """A FAISS index over the version's vectors, with the vectors themselves for exact scores."""

    def __init__(self, index: faiss.Index, vectors: np.ndarray):
        self.index = index
        self.vectors = vectors

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @classmethod
    def build(cls, vectors: np.ndarray) -> FaissStore:
        return cls(build_faiss(vectors), vectors)

    @classmethod
    def load(cls, folder: Path, vectors: np.ndarray) -> FaissStore:
        import faiss

        return cls(faiss.read_index(str(folder / FAISS_FILE)), vectors)

    def save(self, folder: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(folder / FAISS_FILE))

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, ids = self.index.search(query.reshape(1, -1).astype(np.float32), k)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def score(self, query: np.ndarray, positions: np.ndarray) -> np.ndarray:
        return self.vectors[positions] @ query
