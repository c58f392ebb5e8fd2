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
import datetime as dt
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import faiss
import numpy as np

from kefu import __version__
from kefu.errors import BusyError, IndexError_
from kefu.types import Chunk, file_sha256

FORMAT = 2  # 2: BM25 tokens stored with the version
HNSW_MIN_CHUNKS = 20_000  # below this an exact flat scan is faster than a graph
_FILES = ("index.faiss", "vectors.npy", "chunks.jsonl", "tokens.jsonl", "questions.jsonl", "questions.npy", "kb.json")


@dataclass
class IndexVersion:
    """One loaded version: everything a query needs, read together from one folder."""

    name: str
    path: Path
    manifest: dict
    chunks: list[Chunk]
    tokens: list[list[str]]  # BM25 tokens of each chunk, made at ingest with the version's lexicon
    vectors: np.ndarray
    faiss_index: faiss.Index
    questions: list[dict]  # {"passage": "faq:ID", "text": ...}
    question_vectors: np.ndarray
    kb: dict  # categories, cases, playbooks, words, synonyms
    extra: dict = field(default_factory=dict)  # caches built from the above (BM25, ...)

    @property
    def model(self) -> str:
        return self.manifest["model"]


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def build_faiss(vectors: np.ndarray) -> faiss.Index:
    """Inner product on normalised vectors is cosine. Flat (exact) for KBs of normal size;
    HNSW past HNSW_MIN_CHUNKS keeps query latency flat as the KB grows."""
    dim = vectors.shape[1]
    if len(vectors) >= HNSW_MIN_CHUNKS:
        index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 80
        index.hnsw.efSearch = 128
    else:
        index = faiss.IndexFlatIP(dim)
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def versions_dir(index_dir: Path) -> Path:
    return index_dir / "versions"


def list_versions(index_dir: Path) -> list[str]:
    """Complete versions, oldest first (names start with their build time)."""
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


def write_version(index_dir: Path, name: str, manifest: dict, chunks: list[Chunk], tokens: list[list[str]],
                  vectors: np.ndarray, questions: list[dict], question_vectors: np.ndarray, kb: dict) -> Path:
    """Write a complete version into a temporary folder, then rename it into place."""
    vdir = versions_dir(index_dir)
    vdir.mkdir(parents=True, exist_ok=True)
    tmp = index_dir / f".tmp-{name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        faiss.write_index(build_faiss(vectors), str(tmp / "index.faiss"))
        with open(tmp / "vectors.npy", "wb") as f:
            np.save(f, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
        with open(tmp / "questions.npy", "wb") as f:
            np.save(f, np.ascontiguousarray(question_vectors, dtype=np.float32), allow_pickle=False)
        _fsync_write(tmp / "chunks.jsonl", "".join(json.dumps(c.to_dict(), ensure_ascii=False) + "\n" for c in chunks).encode())
        _fsync_write(tmp / "tokens.jsonl", "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in tokens).encode())
        _fsync_write(tmp / "questions.jsonl", "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in questions).encode())
        _fsync_write(tmp / "kb.json", json.dumps(kb, ensure_ascii=False, indent=1).encode())
        manifest = {
            **manifest, "format": FORMAT, "version": name, "package_version": __version__,
            "index_type": "hnsw" if len(vectors) >= HNSW_MIN_CHUNKS else "flat",
            "metric": "inner_product", "normalized": True,
            "files": {f: file_sha256(tmp / f) for f in _FILES},
        }
        _fsync_write(tmp / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2).encode())
        final = vdir / name
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
    live = current_version(index_dir)
    names = list_versions(index_dir)
    older = [n for n in names if live is None or n < live]
    if not older:
        raise IndexError_("没有更早的索引版本可以回滚")
    target = older[-1]
    read_version(index_dir, target)  # refuse to roll back onto a broken version
    set_current(index_dir, target)
    return live or "", target


def read_manifest(path: Path) -> dict:
    try:
        return json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise IndexError_(f"索引版本 {path.name} 的 manifest 无法读取（{e}）：请运行 `kefu rollback` 或 `kefu ingest`") from None


def read_version(index_dir: Path, name: str | None = None, expected_model: str | None = None) -> IndexVersion:
    """Load a version (the live one by default), verifying model and file checksums."""
    name = name or current_version(index_dir)
    if not name:
        raise IndexError_(f"{index_dir} 中没有索引：请运行 `kefu ingest` 构建")
    path = versions_dir(index_dir) / name
    if not path.is_dir():
        raise IndexError_(f"线上索引版本 {name} 不在 {versions_dir(index_dir)} 中：请运行 `kefu ingest`")
    manifest = read_manifest(path)
    if manifest.get("format") != FORMAT:
        raise IndexError_(f"索引版本 {name} 的格式为 {manifest.get('format')}，当前 Kefu 只能读取格式 {FORMAT}：请运行 `kefu ingest`")
    if expected_model and manifest.get("model") != expected_model:
        raise IndexError_(f"索引是用嵌入模型 '{manifest.get('model')}' 构建的，但当前配置的模型是 '{expected_model}'：请运行 `kefu ingest` 重建索引")
    for f, digest in manifest.get("files", {}).items():
        if not (path / f).is_file() or file_sha256(path / f) != digest:
            raise IndexError_(f"索引版本 {name} 已损坏（{f} 缺失或被改动）：请运行 `kefu rollback` 或 `kefu ingest`")
    try:
        chunks = [Chunk.from_dict(json.loads(line)) for line in (path / "chunks.jsonl").read_text(encoding="utf-8").splitlines() if line]
        tokens = [json.loads(line) for line in (path / "tokens.jsonl").read_text(encoding="utf-8").splitlines() if line]
        questions = [json.loads(line) for line in (path / "questions.jsonl").read_text(encoding="utf-8").splitlines() if line]
        vectors = np.load(path / "vectors.npy", allow_pickle=False)
        qvecs = np.load(path / "questions.npy", allow_pickle=False)
        index = faiss.read_index(str(path / "index.faiss"))
        kb = json.loads((path / "kb.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as e:
        raise IndexError_(f"索引版本 {name} 无法读取（{e}）：请运行 `kefu rollback` 或 `kefu ingest`") from None
    if index.ntotal != len(chunks) or len(vectors) != len(chunks) or len(tokens) != len(chunks) or len(qvecs) != len(questions):
        raise IndexError_(f"索引版本 {name} 数据不一致（向量与分块数量不符）：请运行 `kefu ingest`")
    return IndexVersion(name, path, manifest, chunks, tokens, vectors, index, questions, qvecs, kb)


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
