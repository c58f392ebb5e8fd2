"""Where index versions live and which one is live, behind one small protocol.

    FileVersions     folders under KEFU_HOME/index, CURRENT and HISTORY (index/versions.py);
                     the default: embedded, one machine
    MilvusVersions   a collection per version, an alias for the live one, manifests and KB
                     snapshots in a meta collection (index/milvus_store.py); replicas on
                     several machines share it through KEFU_MILVUS_URI

Ingest, rollback, status and the live assistant speak only this protocol, and search
speaks only `VectorStore` (index/faiss_store.py): no code above this stage calls FAISS or
Milvus itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import numpy as np

from core.classifier import LinearClassifier
from core.errors import IndexError_
from core.kb import KnowledgeBase, SourceFile
from core.types import Chunk
from index import current, prune, versions
from index.manifest import Manifest, read_manifest
from index.versions import IndexVersion, Phrasing


class VersionStore(Protocol):
    kind: str  # "faiss" | "milvus"
    where: str  # for messages: the folder, or the Milvus URI and prefix

    def live(self) -> str | None:
        """The live version's name; None when nothing is live; IndexError_ when the pointer is unreadable."""
        ...

    def live_marker(self) -> str | None:
        """A cheap token that changes when the live version changes (what replicas poll)."""
        ...

    def names(self) -> list[str]:
        """Stored versions, oldest first (listed is not intact: `verify` says)."""
        ...

    def new_name(self, kb_hash: str) -> str: ...

    def write(self, manifest: Manifest, chunks: list[Chunk], tokens: list[list[str]], vectors: np.ndarray,
              phrasings: list[Phrasing], phrasing_vectors: np.ndarray, kb: KnowledgeBase, classifier: LinearClassifier,
              sources: tuple[SourceFile, ...]) -> None:
        """Store a complete version; it is not live until `set_live`."""
        ...

    def manifest(self, name: str) -> Manifest:
        """The version's manifest, parsed but not verified (cheap: the editor's document list)."""
        ...

    def verify(self, name: str, expected_model: str | None = None) -> Manifest:
        """The manifest once every check passes (digest, checksums, model)."""
        ...

    def read(self, name: str | None = None, expected_model: str | None = None) -> IndexVersion:
        """Load a version (the live one by default), verified."""
        ...

    def vectors(self, version: IndexVersion) -> np.ndarray:
        """Every chunk vector of a loaded version (ingest reuses unchanged ones)."""
        ...

    def sources(self, name: str) -> tuple[SourceFile, ...]:
        """The KB files a version was built from (verify it first)."""
        ...

    def set_live(self, name: str, action: str, previous: str | None) -> None:
        """Make `name` live in one atomic step and record it in the history."""
        ...

    def history(self) -> list[current.HistoryEntry]: ...

    def prune(self, keep: int) -> list[str]: ...

    def remove_leftovers(self) -> list[str]: ...

    def lock(self, timeout: float) -> contextlib.AbstractContextManager:
        """One writer (ingest, rollback) at a time."""
        ...

    def no_live_version(self) -> IndexError_: ...


def newest_intact(store: VersionStore, model: str, exclude: tuple[str, ...] = ()) -> str | None:
    """The newest version built by `model` that passes every check, or None."""
    for name in reversed(store.names()):
        if name in exclude:
            continue
        try:
            store.verify(name, expected_model=model)
        except IndexError_:
            continue
        return name
    return None


def live_or_none(store: VersionStore) -> str | None:
    """For display: the live version's name, or None when missing or unreadable."""
    try:
        return store.live()
    except IndexError_:
        return None


class FileVersions:
    """Index versions as folders under `index_dir` (index/versions.py, index/current.py)."""

    kind = "faiss"

    def __init__(self, index_dir: Path):
        self.index_dir = Path(index_dir)
        self.where = str(self.index_dir)

    def live(self) -> str | None:
        return current.current_version(self.index_dir)

    def live_marker(self) -> str | None:
        return self.live()  # a small file read: cheap enough to check on every question

    def names(self) -> list[str]:
        return versions.list_versions(self.index_dir)

    def new_name(self, kb_hash: str) -> str:
        return versions.new_version_name(self.index_dir, kb_hash)

    def write(self, manifest, chunks, tokens, vectors, phrasings, phrasing_vectors, kb, classifier, sources) -> None:
        versions.write_version(self.index_dir, manifest, chunks, tokens, vectors, phrasings, phrasing_vectors, kb, classifier, sources)

    def manifest(self, name: str) -> Manifest:
        return read_manifest(versions.versions_dir(self.index_dir) / name)

    def verify(self, name: str, expected_model: str | None = None) -> Manifest:
        return versions.verify_version(self.index_dir, name, expected_model)

    def read(self, name: str | None = None, expected_model: str | None = None) -> IndexVersion:
        return versions.read_version(self.index_dir, name, expected_model)

    def vectors(self, version: IndexVersion) -> np.ndarray:
        return version.vectors

    def sources(self, name: str) -> tuple[SourceFile, ...]:
        return versions.read_sources(self.index_dir, name)

    def set_live(self, name: str, action: str, previous: str | None) -> None:
        current.set_current(self.index_dir, name, action, previous)

    def history(self) -> list[current.HistoryEntry]:
        return current.history(self.index_dir)

    def prune(self, keep: int) -> list[str]:
        return prune.prune(self.index_dir, keep)

    def remove_leftovers(self) -> list[str]:
        return prune.remove_leftovers(self.index_dir)

    @contextlib.contextmanager
    def lock(self, timeout: float) -> Iterator[None]:
        with versions.ingest_lock(self.index_dir, timeout):
            yield

    def no_live_version(self) -> IndexError_:
        return versions.no_live_version(self.index_dir)
