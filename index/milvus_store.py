"""Index versions in Milvus: a version is a collection, the live pointer is an alias.

Everything a replica needs is in Milvus, so a replica on another machine needs only
KEFU_MILVUS_URI: the chunks with their vectors and BM25 tokens (the version's collection),
the phrasings with theirs (`<collection>_q`), and in the meta collection the manifest and
its digest, the KB snapshot (taxonomy, playbooks, lexicon), the KB sources it was built
from, and the history of live versions.

A version is written completely, manifest last, before the alias moves (one atomic
`alter_alias`). A replica that loaded a version searches that collection by its own name,
so an answer in flight comes whole from one version. Loading checks the manifest against
its digest and every part against the manifest's checksums, as for version folders.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import io
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.classifier import CLASSIFIER_ARRAYS, LinearClassifier
from core.errors import IndexError_
from core.hashing import sha256_bytes, sha256_text
from core.kb import KnowledgeBase, SourceFile
from core.settings import VERSION, Settings
from core.types import Chunk
from index.current import FIX, HistoryEntry, live_stack, valid_name
from index.manifest import Manifest, parse_manifest
from index.milvus_client import HNSW_MIN_ROWS, Milvus
from index.versions import IndexVersion, Phrasing

PREFETCH_MAX = 50_000  # versions up to this many chunks keep their vectors in memory as well
HISTORY_MAX = 200
LEFTOVER_SECONDS = 3_600  # a version without a manifest this long after it was started was abandoned


class MilvusVectors:
    """The `VectorStore` of a version in Milvus: nearest chunks by a Milvus search of the
    version's own collection; exact cosines of given chunks from the vectors (in memory for
    versions up to PREFETCH_MAX chunks; above, fetched once and kept: a version never changes)."""

    def __init__(self, milvus: Milvus, collection: str, n: int, vectors: np.ndarray | None):
        self.milvus, self.collection, self.n, self.vectors = milvus, collection, n, vectors
        self._fetched: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return self.n

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.milvus.search(self.collection, query, min(k, self.n))

    def score(self, query: np.ndarray, positions: np.ndarray) -> np.ndarray:
        if self.vectors is not None:
            return self.vectors[positions] @ query
        missing = [int(p) for p in positions if int(p) not in self._fetched]
        if missing:
            self._fetched.update(self.milvus.vectors(self.collection, missing))
        return np.array([self._fetched[int(p)] @ query for p in positions], dtype=np.float32)


def _vectors_digest(vectors: np.ndarray) -> str:
    return sha256_bytes(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())


def _array(a: np.ndarray) -> str:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a), allow_pickle=False)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _from_array(text: str) -> np.ndarray:
    return np.load(io.BytesIO(base64.b64decode(text)), allow_pickle=False)


def _classifier_json(c: LinearClassifier) -> str:
    """The classifiers as numbers and strings only (no pickle): .npy arrays in base64 beside
    the labels, scale and grams."""
    meta, arrays = c.parts()
    return json.dumps({**meta, **{name: _array(a) for name, a in arrays.items()}}, ensure_ascii=False)


def _classifier_from_json(text: str) -> LinearClassifier:
    d = json.loads(text)
    return LinearClassifier.from_parts(d, {name: _from_array(d[name]) for name in CLASSIFIER_ARRAYS})


def _lines_digest(items) -> str:
    return sha256_text("".join(json.dumps(x, ensure_ascii=False, sort_keys=True) + "\n" for x in items))


class MilvusVersions:
    """The versions of one Kefu (one KEFU_MILVUS_PREFIX) in one Milvus (`VersionStore`)."""

    kind = "milvus"

    def __init__(self, settings: Settings, milvus: Milvus | None = None,
                 lock: Callable[[float], contextlib.AbstractContextManager] | None = None):
        self.milvus = milvus or Milvus(settings.milvus_uri, settings.milvus_token, settings.milvus_prefix)
        self.where = f"Milvus {self.milvus.uri}（集合前缀 {self.milvus.prefix}）"
        self._lock = lock or (lambda _timeout: contextlib.nullcontext())
        self._history_key = f"{self.milvus.prefix}/history"

    def close(self) -> None:
        self.milvus.close()

    def lock(self, timeout: float) -> contextlib.AbstractContextManager:
        return self._lock(timeout)

    # --- names --------------------------------------------------------------------------------------

    def _name(self, collection: str) -> str:
        return collection[len(self.milvus.prefix) + 1:].replace("_", "-")

    def _with_manifest(self) -> set[str]:
        keys = self.milvus.keys(f"{self.milvus.prefix}_v")
        return {k.split("/", 1)[0] for k in keys if k.endswith("/manifest")}

    def names(self) -> list[str]:
        complete = self._with_manifest()
        return sorted(self._name(c) for c in self.milvus.chunk_collections() if c in complete)

    def new_name(self, kb_hash: str) -> str:
        seq = max((int(n[1:5]) for n in self.names() if n[1:5].isdigit()), default=0) + 1
        return f"v{seq:04d}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}-{kb_hash[:8]}"

    # --- the live pointer ---------------------------------------------------------------------------

    def live_marker(self) -> str | None:
        return self.milvus.live_collection()

    def live(self) -> str | None:
        collection = self.milvus.live_collection()
        if collection is None:
            return None
        name = self._name(collection)
        if not valid_name(name):
            raise IndexError_(f"{self.where} 的线上别名指向 {collection}，它不是索引版本：{FIX}")
        return name

    def set_live(self, name: str, action: str, previous: str | None) -> None:
        self.milvus.point_alias(self.milvus.collection(name))
        entry = HistoryEntry(dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), action, name, previous)
        raw = (self.milvus.get_json(self._history_key) or [])[-(HISTORY_MAX - 1):]
        self.milvus.put_json(self._history_key, [*raw, dataclasses.asdict(entry)])

    def history(self) -> list[HistoryEntry]:
        out = []
        for d in self.milvus.get_json(self._history_key) or []:
            with contextlib.suppress(KeyError, TypeError):
                out.append(HistoryEntry(str(d["at"]), str(d["action"]), str(d["version"]), d.get("previous")))
        return out

    def no_live_version(self) -> IndexError_:
        kept = self.names()
        if not kept:
            return IndexError_(f"{self.where} 中没有索引：请运行 `kefu ingest` 构建")
        return IndexError_(f"{self.where} 没有线上版本（别名不存在），但保留着 {len(kept)} 个索引版本（最新的是 {kept[-1]}）："
                           "运行 `kefu rollback` 恢复最新的完整版本，或运行 `kefu ingest` 重新构建")

    # --- writing ------------------------------------------------------------------------------------

    def write(self, manifest: Manifest, chunks: list[Chunk], tokens: list[list[str]], vectors: np.ndarray,
              phrasings: list[Phrasing], phrasing_vectors: np.ndarray, kb: KnowledgeBase, classifier: LinearClassifier,
              sources: tuple[SourceFile, ...]) -> None:
        """Write a version: collections, KB snapshot, classifier and sources, then the manifest and its
        digest. Without a manifest a collection is a leftover, never listed or made live."""
        m = self.milvus
        collection = m.collection(manifest.version)
        m.drop_version(collection)  # what a killed ingest of the same name left
        m.put_blob(f"{collection}/started", str(time.time()))  # lets other replicas tell a write in progress from a leftover
        m.create_version(collection, int(vectors.shape[1]), len(chunks))
        try:
            chunk_dicts = [c.to_dict() for c in chunks]
            m.insert(collection, ({"pos": i, "embedding": vectors[i].tolist(), "chunk": json.dumps(d, ensure_ascii=False),
                                   "tokens": json.dumps(tokens[i], ensure_ascii=False)} for i, d in enumerate(chunk_dicts)))
            m.insert(collection + "_q", ({"pos": i, "embedding": phrasing_vectors[i].tolist(), "passage": p.passage,
                                          "label": p.label, "kind": p.kind, "text": p.text} for i, p in enumerate(phrasings)))
            m.seal(collection)
            if chunks:  # a fresh collection's first search waits for its index: pay it before going live
                m.search(collection, vectors[0], 1)
            kb_json = json.dumps(kb.to_dict(), ensure_ascii=False)
            m.put_blob(f"{collection}/kb", kb_json)
            classifier_json = _classifier_json(classifier)
            m.put_blob(f"{collection}/classifier", classifier_json)
            m.put_json(f"{collection}/counts", {"chunks": len(chunks), "phrasings": len(phrasings)})
            m.put_json(f"{collection}/sources", {s.rel: base64.b64encode(s.data).decode("ascii") for s in sources})
            files = {"chunks": _lines_digest(chunk_dicts), "tokens": _lines_digest(tokens), "vectors": _vectors_digest(vectors),
                     "phrasings": _lines_digest(dataclasses.asdict(p) for p in phrasings),
                     "phrasing_vectors": _vectors_digest(phrasing_vectors), "kb.json": sha256_text(kb_json),
                     "classifier": sha256_text(classifier_json)}
            files.update({f"kb/{s.rel}": s.sha256 for s in sources})
            manifest = dataclasses.replace(manifest, package_version=VERSION, kb_files={s.rel: s.sha256 for s in sources},
                                           index_type="milvus-hnsw" if len(chunks) >= HNSW_MIN_ROWS else "milvus-flat",
                                           files=files)
            data = manifest.to_json().decode("utf-8")
            m.put_blob(f"{collection}/digest", sha256_text(data))
            m.put_blob(f"{collection}/manifest", data)
        except BaseException:
            m.drop_version(collection)
            raise

    # --- reading ------------------------------------------------------------------------------------

    def manifest(self, name: str) -> Manifest:
        data = self.milvus.get_blob(f"{self.milvus.collection(name)}/manifest")
        if data is None:
            raise IndexError_(f"索引版本 {name} 不在 {self.where} 中：{FIX}")
        return parse_manifest(data.encode("utf-8"), name)

    def verify(self, name: str, expected_model: str | None = None) -> Manifest:
        """The manifest once it matches its digest, names the model, and the collections hold
        its counts; the content itself is checked against the checksums when read."""
        collection = self.milvus.collection(name)
        data = self.milvus.get_blob(f"{collection}/manifest") if valid_name(name) else None
        digest = self.milvus.get_blob(f"{collection}/digest") if data is not None else None
        if data is None or digest is None:
            raise IndexError_(f"索引版本 {name} 不在 {self.where} 中，或缺少 manifest 及其校验值：{FIX}")
        if sha256_text(data) != digest.strip():
            raise IndexError_(f"索引版本 {name} 的 manifest 与记录的校验值不符（被改动或损坏）：{FIX}")
        manifest = parse_manifest(data.encode("utf-8"), name)
        if expected_model and manifest.model != expected_model:
            raise IndexError_(f"索引版本 {name} 是用嵌入模型 '{manifest.model}' 构建的，但当前配置的模型是 '{expected_model}'：请运行 `kefu ingest` 重建索引")
        counts = (self.milvus.count(collection), self.milvus.count(collection + "_q"))
        stored = self.milvus.get_json(f"{collection}/counts") or {}
        want = (manifest.counts.get("chunks", 0), stored.get("phrasings", -1))
        if counts != want:
            raise IndexError_(f"索引版本 {name} 在 Milvus 中不完整（{counts[0]}/{want[0]} 个分块，{counts[1]}/{want[1]} 个问法）：{FIX}")
        return manifest

    def read(self, name: str | None = None, expected_model: str | None = None) -> IndexVersion:
        name = name or self.live()
        if not name:
            raise self.no_live_version()
        manifest = self.verify(name, expected_model)
        m = self.milvus
        collection = m.collection(name)
        n, dim = manifest.counts.get("chunks", 0), manifest.dimension
        n_q = int((m.get_json(f"{collection}/counts") or {}).get("phrasings", 0))
        prefetch = n <= PREFETCH_MAX
        try:
            rows = m.rows(collection, ["chunk", "tokens", *(["embedding"] if prefetch else [])], n)
            chunk_dicts = [json.loads(r["chunk"]) for r in rows]
            tokens = [json.loads(r["tokens"]) for r in rows]
            vectors = np.asarray([r["embedding"] for r in rows], dtype=np.float32).reshape(n, dim) if prefetch else None
            q_rows = m.rows(collection + "_q", ["embedding", "passage", "label", "kind", "text"], n_q)
            phrasings = [Phrasing(r["passage"], r["text"], r["label"], r["kind"]) for r in q_rows]
            pvecs = np.asarray([r["embedding"] for r in q_rows], dtype=np.float32).reshape(n_q, dim)
            kb_json = m.get_blob(f"{collection}/kb") or ""
            classifier_json = m.get_blob(f"{collection}/classifier") or ""
            found = {"chunks": _lines_digest(chunk_dicts), "tokens": _lines_digest(tokens), "kb.json": sha256_text(kb_json),
                     "classifier": sha256_text(classifier_json),
                     "phrasings": _lines_digest(dataclasses.asdict(p) for p in phrasings), "phrasing_vectors": _vectors_digest(pvecs)}
            if vectors is not None:
                found["vectors"] = _vectors_digest(vectors)
            bad = sorted(k for k, v in found.items() if manifest.files.get(k) != v)
            if bad:
                raise IndexError_(f"索引版本 {name} 已损坏（{bad[0]} 与校验值不符）：{FIX}")
            chunks = [Chunk.from_dict(d) for d in chunk_dicts]
            kb = KnowledgeBase.from_dict(json.loads(kb_json))
            classifier = _classifier_from_json(classifier_json)
        except (ValueError, TypeError, KeyError) as e:
            raise IndexError_(f"索引版本 {name} 无法读取（{e}）：{FIX}") from None
        store = MilvusVectors(m, collection, n, vectors)
        held = vectors if vectors is not None else np.zeros((0, dim), dtype=np.float32)
        return IndexVersion(name, Path(collection), manifest, chunks, tokens, held, store, phrasings, pvecs, kb, classifier)

    def vectors(self, version: IndexVersion) -> np.ndarray:
        if len(version.vectors) == len(version.chunks):
            return version.vectors
        rows = self.milvus.rows(self.milvus.collection(version.name), ["embedding"], len(version.chunks))
        return np.asarray([r["embedding"] for r in rows], dtype=np.float32)

    def sources(self, name: str) -> tuple[SourceFile, ...]:
        raw = self.milvus.get_json(f"{self.milvus.collection(name)}/sources")
        if raw is None:
            raise IndexError_(f"索引版本 {name} 缺少知识库源文件：{FIX}")
        manifest = self.manifest(name)
        out = tuple(SourceFile(rel, base64.b64decode(raw[rel])) for rel in sorted(raw))
        if {s.rel: s.sha256 for s in out} != manifest.kb_files:
            raise IndexError_(f"索引版本 {name} 的知识库源文件与校验值不符：{FIX}")
        return out

    # --- tidying ------------------------------------------------------------------------------------

    def prune(self, keep: int) -> list[str]:
        """Drop the oldest versions beyond `keep`: never the live one, nor those a rollback
        would return to next."""
        live = self.live()
        protected = {live, *live_stack(self.history())[-keep:]}
        names = self.names()
        removed = []
        for name in names:
            if len(names) - len(removed) <= keep:
                break
            if name not in protected:
                self.milvus.drop_version(self.milvus.collection(name))
                removed.append(name)
        return removed

    def remove_leftovers(self) -> list[str]:
        """Collections of a killed ingest: no manifest an hour after they were started (a
        replica on another machine may be writing one right now when no shared lock exists)."""
        complete = self._with_manifest()
        live = self.milvus.live_collection()
        removed = []
        for collection in self.milvus.chunk_collections():
            if collection in complete or collection == live:
                continue
            try:
                started = float(self.milvus.get_blob(f"{collection}/started") or 0)
            except ValueError:
                started = 0.0
            if time.time() - started > LEFTOVER_SECONDS:
                self.milvus.drop_version(collection)
                removed.append(collection)
        return removed
