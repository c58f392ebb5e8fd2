"""The index on disk: a folder per version, a manifest, an atomic swap, rollback.

    index/
      CURRENT                    name of the live version (replaced atomically)
      versions/<version>/        manifest.json, index.faiss, vectors.npy, chunks.jsonl,
                                 tokens.jsonl, questions.jsonl, questions.npy, kb.json
      .lock                      held by the one ingest that may write

A version is built in a temporary folder and renamed into place; only then does CURRENT
move. A reader that opened a version keeps it whole even if CURRENT moves meanwhile.
No pickle: JSON, JSONL, .npy without objects, and FAISS's own format.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import BusyError, IndexError_
from core.hashing import sha256_file
from core.kb import KnowledgeBase
from core.settings import VERSION
from core.types import Chunk
from index.faiss_store import FAISS_FILE, FaissStore, VectorStore, index_type
from index.manifest import Manifest, read_manifest

_FILES = (FAISS_FILE, "vectors.npy", "chunks.jsonl", "tokens.jsonl", "questions.jsonl", "questions.npy", "kb.json")


@dataclass(frozen=True)
class Phrasing:
    """A question matched query-to-query: an FAQ question or variant ("faq:ID"), or an
    example of a question the KB does not cover ("oos")."""

    passage: str
    text: str

    @property
    def out_of_scope(self) -> bool:
        return self.passage == "oos"


@dataclass
class IndexVersion:
    """One loaded version: everything a query needs, read together from one folder."""

    name: str
    path: Path
    manifest: Manifest
    chunks: list[Chunk]
    tokens: list[list[str]]  # BM25 tokens of each chunk, made at ingest with the version's lexicon
    vectors: np.ndarray
    store: VectorStore
    phrasings: list[Phrasing]
    phrasing_vectors: np.ndarray
    kb: KnowledgeBase
    extra: dict = field(default_factory=dict)  # caches built from the above (BM25, ...)

    @property
    def model(self) -> str:
        return self.manifest.model


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _jsonl(rows) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def _read_jsonl(path: Path) -> list:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def versions_dir(index_dir: Path) -> Path:
    return index_dir / "versions"


def list_versions(index_dir: Path) -> list[str]:
    """Complete versions, oldest first (names start with a sequence number)."""
    vdir = versions_dir(index_dir)
    if not vdir.is_dir():
        return []
    return sorted(p.name for p in vdir.iterdir() if p.is_dir() and (p / "manifest.json").is_file())


def current_version(index_dir: Path) -> str | None:
    try:
        name = (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return name or None


def set_current(index_dir: Path, name: str) -> None:
    tmp = index_dir / f".CURRENT.{uuid.uuid4().hex}"
    _fsync_write(tmp, name.encode("utf-8"))
    os.replace(tmp, index_dir / "CURRENT")


def new_version_name(index_dir: Path, kb_hash: str) -> str:
    """`v0007-20261125-034312-ab12cd34`: a sequence number keeps versions ordered even
    when two are built within one second; the time and KB hash are for people."""
    seq = max((int(n[1:5]) for n in list_versions(index_dir) if n[1:5].isdigit()), default=0) + 1
    return f"v{seq:04d}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}-{kb_hash[:8]}"


def write_version(index_dir: Path, manifest: Manifest, chunks: list[Chunk], tokens: list[list[str]],
                  vectors: np.ndarray, phrasings: list[Phrasing], phrasing_vectors: np.ndarray, kb: KnowledgeBase) -> Path:
    """Write a complete version into a temporary folder, then rename it into place."""
    vdir = versions_dir(index_dir)
    vdir.mkdir(parents=True, exist_ok=True)
    tmp = index_dir / f".tmp-{manifest.version}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        FaissStore.build(vectors).save(tmp)
        for name, array in (("vectors.npy", vectors), ("questions.npy", phrasing_vectors)):
            with open(tmp / name, "wb") as f:
                np.save(f, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
        _fsync_write(tmp / "chunks.jsonl", _jsonl(c.to_dict() for c in chunks))
        _fsync_write(tmp / "tokens.jsonl", _jsonl(tokens))
        _fsync_write(tmp / "questions.jsonl", _jsonl(dataclasses.asdict(p) for p in phrasings))
        _fsync_write(tmp / "kb.json", json.dumps(kb.to_dict(), ensure_ascii=False, indent=1).encode("utf-8"))
        manifest = dataclasses.replace(manifest, package_version=VERSION, index_type=index_type(len(vectors)),
                                       files={f: sha256_file(tmp / f) for f in _FILES})
        _fsync_write(tmp / "manifest.json", manifest.to_json())
        final = vdir / manifest.version
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def prune(index_dir: Path, keep: int) -> list[str]:
    """Delete the oldest versions beyond `keep`, never the live one."""
    live = current_version(index_dir)
    names = list_versions(index_dir)
    removed = []
    for name in names[: max(0, len(names) - keep)]:
        if name != live:
            shutil.rmtree(versions_dir(index_dir) / name, ignore_errors=True)
            removed.append(name)
    for stale in index_dir.glob(".tmp-*"):
        # Left by a crashed ingest; we hold the lock, so nobody is writing it.
        shutil.rmtree(stale, ignore_errors=True)
    return removed


def rollback(index_dir: Path) -> tuple[str, str]:
    """Make the version before the live one live; returns (from, to). The caller holds the lock."""
    live = current_version(index_dir)
    names = list_versions(index_dir)
    older = [n for n in names if live is None or n < live]
    if not older:
        raise IndexError_("没有更早的索引版本可以回滚")
    target = older[-1]
    read_version(index_dir, target)  # refuse to roll back onto a broken version
    set_current(index_dir, target)
    return live or "", target


def read_version(index_dir: Path, name: str | None = None, expected_model: str | None = None) -> IndexVersion:
    """Load a version (the live one by default), verifying model and file checksums."""
    name = name or current_version(index_dir)
    if not name:
        raise IndexError_(f"{index_dir} 中没有索引：请运行 `kefu ingest` 构建")
    path = versions_dir(index_dir) / name
    if not path.is_dir():
        raise IndexError_(f"线上索引版本 {name} 不在 {versions_dir(index_dir)} 中：请运行 `kefu ingest`")
    manifest = read_manifest(path)
    if expected_model and manifest.model != expected_model:
        raise IndexError_(f"索引是用嵌入模型 '{manifest.model}' 构建的，但当前配置的模型是 '{expected_model}'：请运行 `kefu ingest` 重建索引")
    for f, digest in manifest.files.items():
        if not (path / f).is_file() or sha256_file(path / f) != digest:
            raise IndexError_(f"索引版本 {name} 已损坏（{f} 缺失或被改动）：请运行 `kefu rollback` 或 `kefu ingest`")
    try:
        chunks = [Chunk.from_dict(d) for d in _read_jsonl(path / "chunks.jsonl")]
        tokens = _read_jsonl(path / "tokens.jsonl")
        phrasings = [Phrasing(d["passage"], d["text"]) for d in _read_jsonl(path / "questions.jsonl")]
        vectors = np.load(path / "vectors.npy", allow_pickle=False)
        pvecs = np.load(path / "questions.npy", allow_pickle=False)
        store = FaissStore.load(path, vectors)
        kb = KnowledgeBase.from_dict(json.loads((path / "kb.json").read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as e:
        raise IndexError_(f"索引版本 {name} 无法读取（{e}）：请运行 `kefu rollback` 或 `kefu ingest`") from None
    if len(store) != len(chunks) or len(vectors) != len(chunks) or len(tokens) != len(chunks) or len(pvecs) != len(phrasings):
        raise IndexError_(f"索引版本 {name} 数据不一致（向量与分块数量不符）：请运行 `kefu ingest`")
    return IndexVersion(name, path, manifest, chunks, tokens, vectors, store, phrasings, pvecs, kb)


@contextlib.contextmanager
def ingest_lock(index_dir: Path, timeout: float):
    """One writer at a time; a second ingest waits up to `timeout` seconds, then stops."""
    from filelock import FileLock, Timeout

    index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(index_dir / ".lock"))
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise BusyError(f"{index_dir} 上已有另一个入库任务在运行（已等待 {timeout:g} 秒）：请等它完成后重试") from None
    try:
        yield
    finally:
        lock.release()
