"""Open the configured version store (KEFU_VECTOR_STORE) for this process.

Milvus is imported only when it is configured: the default install (FAISS folders) does
not need pymilvus. With Milvus, writers also take a lock in the records database when it
is PostgreSQL, so that replicas on different machines ingest and roll back one at a time.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from core.errors import ConfigError
from core.settings import Settings
from index.store import FileVersions, VersionStore

_opened: dict[tuple, VersionStore] = {}
_guard = threading.Lock()


def open_versions(settings: Settings) -> VersionStore:
    """The store of these settings; one per process and configuration (a Milvus client is reused)."""
    if settings.vector_store == "faiss":
        return FileVersions(settings.index_dir)
    key = (settings.milvus_uri, settings.milvus_token, settings.milvus_prefix, settings.db_url, str(settings.index_dir))
    with _guard:
        store = _opened.get(key)
        if store is None:
            store = _milvus(settings)
            _opened[key] = store
        return store


def _milvus(settings: Settings) -> VersionStore:
    try:
        from index.milvus_store import MilvusVersions
    except ImportError as e:
        raise ConfigError(f"KEFU_VECTOR_STORE=milvus 需要 pymilvus（{e}）：请运行 .venv/bin/pip install -e '.[scale]'") from None
    from records import locks

    local = FileVersions(settings.index_dir)  # the machine's own lock, as for FAISS

    @contextlib.contextmanager
    def lock(timeout: float) -> Iterator[None]:
        with local.lock(timeout):
            if locks.shared(settings):
                with locks.writer_lock(settings, f"versions:{settings.milvus_prefix}", timeout):
                    yield
            else:
                yield

    return MilvusVersions(settings, lock=lock)


def close_all() -> None:
    with _guard:
        for store in _opened.values():
            store.close()
        _opened.clear()
