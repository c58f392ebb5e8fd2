"""The index on disk: a folder per version, a manifest covered by a digest, an atomic swap.

    index/
      CURRENT                    name of the live version (replaced atomically; index.current)
      HISTORY                    one JSON line per change of CURRENT (index.current)
      versions/<version>/        manifest.json, index.faiss, vectors.npy, chunks.jsonl,
                                 tokens.jsonl, questions.jsonl, questions.npy, kb.json,
                                 classifier.json, classifier.npz,
                                 kb/...: the KB files the version was built from
      versions/<version>.sha256  digest of its manifest.json, written before the folder is
                                 renamed into place: a manifest edited afterwards is refused
      .lock                      held by the one ingest (or rollback) that may write

A version is built in a temporary folder and renamed into place; only then does CURRENT
move. Every file of a version, the KB copies included, is in the manifest's checksum
table, and the table is required. A reader that opened a version keeps it whole even if
CURRENT moves meanwhile. No pickle: JSON, JSONL, .npy without objects, and FAISS's own format.
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

from core.classifier import LinearClassifier
from core.errors import BusyError, IndexError_
from core.hashing import sha256_bytes, sha256_file
from core.kb import KnowledgeBase, SourceFile
from core.settings import VERSION
from core.types import Chunk
from index.current import FIX, current_version, fsync_write, valid_name
from index.faiss_store import FAISS_FILE, FaissStore, VectorStore, index_type
from index.manifest import Manifest, parse_manifest

_FILES = (FAISS_FILE, "vectors.npy", "chunks.jsonl", "tokens.jsonl", "questions.jsonl", "questions.npy", "kb.json",
          "classifier.json", "classifier.npz")
SOURCES = "kb"  # the folder, inside a version, holding the KB files it was built from


@dataclass(frozen=True)
class Phrasing:
    """A short text embedded as a query would be: an FAQ question or variant (matched
    query-to-query), an out-of-scope example, or a playbook or scope line; all of them teach
    the case classifier their label."""

    passage: str  # "faq:ID", "playbook:5.3", "scope:5.3", or "oos"
    text: str
    label: str  # case title, "cat:<category>|<faq>" or "oos"
    kind: str  # "faq" | "playbook" | "scope" | "oos"


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
    classifier: LinearClassifier
    extra: dict = field(default_factory=dict)  # caches built from the above (BM25, ...)

    @property
    def model(self) -> str:
        return self.manifest.model


def _jsonl(rows) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def _read_jsonl(path: Path) -> list:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def versions_dir(index_dir: Path) -> Path:
    return index_dir / "versions"


def digest_path(index_dir: Path, name: str) -> Path:
    return versions_dir(index_dir) / f"{name}.sha256"


def list_versions(index_dir: Path) -> list[str]:
    """Version folders, oldest first (names start with a sequence number). Listed is not
    intact: `verify_version` says whether one can be served."""
    vdir = versions_dir(index_dir)
    if not vdir.is_dir():
        return []
    return sorted(p.name for p in vdir.iterdir() if p.is_dir() and valid_name(p.name) and (p / "manifest.json").is_file())


def new_version_name(index_dir: Path, kb_hash: str) -> str:
    """`v0007-20261125-034312-ab12cd34`: a sequence number keeps versions ordered even
    when two are built within one second; the time and KB hash are for people."""
    seq = max((int(n[1:5]) for n in list_versions(index_dir) if n[1:5].isdigit()), default=0) + 1
    return f"v{seq:04d}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}-{kb_hash[:8]}"


def required_files(manifest: Manifest) -> set[str]:
    """What the checksum table must cover: the index files and a copy of every KB source."""
    return {*_FILES, *(f"{SOURCES}/{rel}" for rel in manifest.kb_files)}


def write_version(index_dir: Path, manifest: Manifest, chunks: list[Chunk], tokens: list[list[str]],
                  vectors: np.ndarray, phrasings: list[Phrasing], phrasing_vectors: np.ndarray, kb: KnowledgeBase,
                  classifier: LinearClassifier, sources: tuple[SourceFile, ...]) -> Path:
    """Write a complete version into a temporary folder, record its manifest's digest, then
    rename the folder into place."""
    vdir = versions_dir(index_dir)
    vdir.mkdir(parents=True, exist_ok=True)
    tmp = index_dir / f".tmp-{manifest.version}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    digest = digest_path(index_dir, manifest.version)
    try:
        FaissStore.build(vectors).save(tmp)
        for name, array in (("vectors.npy", vectors), ("questions.npy", phrasing_vectors)):
            with open(tmp / name, "wb") as f:
                np.save(f, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
        fsync_write(tmp / "chunks.jsonl", _jsonl(c.to_dict() for c in chunks))
        fsync_write(tmp / "tokens.jsonl", _jsonl(tokens))
        fsync_write(tmp / "questions.jsonl", _jsonl(dataclasses.asdict(p) for p in phrasings))
        fsync_write(tmp / "kb.json", json.dumps(kb.to_dict(), ensure_ascii=False, indent=1).encode("utf-8"))
        _write_classifier(tmp, classifier)
        for source in sources:
            path = tmp / SOURCES / source.rel
            path.parent.mkdir(parents=True, exist_ok=True)
            fsync_write(path, source.data)
        files = {f: sha256_file(tmp / f) for f in _FILES}
        files.update({f"{SOURCES}/{s.rel}": s.sha256 for s in sources})
        manifest = dataclasses.replace(manifest, package_version=VERSION, index_type=index_type(len(vectors)),
                                       kb_files={s.rel: s.sha256 for s in sources}, files=files)
        data = manifest.to_json()
        fsync_write(tmp / "manifest.json", data)
        fsync_write(digest, (sha256_bytes(data) + "\n").encode("ascii"))
        final = vdir / manifest.version
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        digest.unlink(missing_ok=True)
        raise
    return final


def verify_version(index_dir: Path, name: str, expected_model: str | None = None) -> Manifest:
    """The manifest of version `name` once everything checks: its digest, its checksum
    table (required, covering every file), every file against it, and the model."""
    path = versions_dir(index_dir) / name
    if not valid_name(name) or not path.is_dir():
        raise IndexError_(f"索引版本 {name} 不在 {versions_dir(index_dir)} 中：{FIX}")
    try:
        expected = digest_path(index_dir, name).read_text(encoding="ascii").strip()
        data = (path / "manifest.json").read_bytes()
    except (OSError, UnicodeDecodeError) as e:
        raise IndexError_(f"索引版本 {name} 缺少 manifest 或其校验值（{getattr(e, 'strerror', None) or e}）：{FIX}") from None
    if sha256_bytes(data) != expected:
        raise IndexError_(f"索引版本 {name} 的 manifest.json 与记录的校验值不符（被改动或损坏）：{FIX}")
    manifest = parse_manifest(data, name)
    if expected_model and manifest.model != expected_model:
        raise IndexError_(f"索引版本 {name} 是用嵌入模型 '{manifest.model}' 构建的，但当前配置的模型是 '{expected_model}'：请运行 `kefu ingest` 重建索引")
    missing = sorted(required_files(manifest) - set(manifest.files))
    if missing:
        raise IndexError_(f"索引版本 {name} 的校验表缺少 {missing[0]}：{FIX}")
    for f, digest in manifest.files.items():
        file = path / f
        if not file.resolve().is_relative_to(path.resolve()) or not file.is_file() or sha256_file(file) != digest:
            raise IndexError_(f"索引版本 {name} 已损坏（{f} 缺失或被改动）：{FIX}")
    return manifest


def newest_intact(index_dir: Path, model: str, exclude: tuple[str, ...] = ()) -> str | None:
    """The newest version built by `model` that passes every check, or None."""
    for name in reversed(list_versions(index_dir)):
        if name in exclude:
            continue
        try:
            verify_version(index_dir, name, expected_model=model)
        except IndexError_:
            continue
        return name
    return None


def read_sources(index_dir: Path, name: str) -> tuple[SourceFile, ...]:
    """The KB files version `name` was built from (verify the version first)."""
    path = versions_dir(index_dir) / name
    manifest = parse_manifest((path / "manifest.json").read_bytes(), name)
    return tuple(SourceFile(rel, (path / SOURCES / rel).read_bytes()) for rel in sorted(manifest.kb_files))


def no_live_version(index_dir: Path) -> IndexError_:
    """Why nothing is live: no index at all, or versions without a CURRENT naming one."""
    kept = list_versions(index_dir)
    if not kept:
        return IndexError_(f"{index_dir} 中没有索引：请运行 `kefu ingest` 构建")
    return IndexError_(f"没有线上版本（{index_dir / 'CURRENT'} 不存在），但保留着 {len(kept)} 个索引版本（最新的是 {kept[-1]}）："
                       "运行 `kefu rollback` 恢复最新的完整版本，或运行 `kefu ingest` 重新构建")


def read_version(index_dir: Path, name: str | None = None, expected_model: str | None = None) -> IndexVersion:
    """Load a version (the live one by default), verified as `verify_version` does."""
    name = name or current_version(index_dir)
    if not name:
        raise no_live_version(index_dir)
    manifest = verify_version(index_dir, name, expected_model)
    path = versions_dir(index_dir) / name
    try:
        chunks = [Chunk.from_dict(d) for d in _read_jsonl(path / "chunks.jsonl")]
        tokens = _read_jsonl(path / "tokens.jsonl")
        phrasings = [Phrasing(**d) for d in _read_jsonl(path / "questions.jsonl")]
        vectors = np.load(path / "vectors.npy", allow_pickle=False)
        pvecs = np.load(path / "questions.npy", allow_pickle=False)
        store = FaissStore.load(path, vectors)
        kb = KnowledgeBase.from_dict(json.loads((path / "kb.json").read_text(encoding="utf-8")))
        classifier = _read_classifier(path)
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as e:
        raise IndexError_(f"索引版本 {name} 无法读取（{e}）：{FIX}") from None
    if len(store) != len(chunks) or len(vectors) != len(chunks) or len(tokens) != len(chunks) or len(pvecs) != len(phrasings):
        raise IndexError_(f"索引版本 {name} 数据不一致（向量与分块数量不符）：请运行 `kefu ingest`")
    return IndexVersion(name, path, manifest, chunks, tokens, vectors, store, phrasings, pvecs, kb, classifier)


def _write_classifier(folder: Path, c: LinearClassifier) -> None:
    meta, arrays = c.parts()
    with open(folder / "classifier.npz", "wb") as f:
        np.savez(f, **arrays)
    fsync_write(folder / "classifier.json", json.dumps(meta, ensure_ascii=False, indent=1).encode("utf-8"))


def _read_classifier(folder: Path) -> LinearClassifier:
    meta = json.loads((folder / "classifier.json").read_text(encoding="utf-8"))
    with np.load(folder / "classifier.npz", allow_pickle=False) as arrays:
        return LinearClassifier.from_parts(meta, arrays)


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
