"""Milvus, the only module that talks to it (pymilvus): collections of a version, the alias
that says which is live, and a small key-value collection for manifests and KB snapshots.

    <prefix>_<version>     one per KB version: pos (the chunk's position), its vector, the
                           chunk as JSON and its BM25 tokens (Kefu's lexical side: Milvus's
                           own BM25 was measured against it and lost, eval/lexical_milvus.py)
    <prefix>_<version>_q   the version's phrasings (FAQ questions and variants, playbook and
                           scope lines, out-of-scope examples) with their vectors and labels
    <prefix>_live          the alias: the live version's collection; moved by alter_alias
    <prefix>_meta          key -> text rows: manifest, KB snapshot, sources, live history

The same code serves a Milvus server or cluster (`http://host:19530`) and Milvus Lite
(`KEFU_MILVUS_URI` a local path: one process only).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence

import numpy as np
from pymilvus import DataType, Function, FunctionType, MilvusClient, MilvusException

from core.errors import IndexError_

VARCHAR_MAX = 65_535
BLOB_PART_BYTES = 60_000  # Milvus counts VARCHAR length in bytes (Lite in characters): stay under both
INSERT_BATCH = 1_000
PAGE = 10_000  # rows per query (Milvus returns at most 16,384)
HNSW_MIN_ROWS = 20_000  # as for FAISS: an exact scan below, a graph above
HNSW_PARAMS = {"M": 32, "efConstruction": 80}
HNSW_EF = 128
# Seconds to (re)connect. pymilvus's default of 10 also bounds its reconnect after an idle
# connection fails its health check, and a busy server (a Milvus Lite server on a loaded
# 2-core CI machine) did not answer in 10.
CONNECT_SECONDS = 30.0

logging.getLogger("pymilvus").setLevel(logging.CRITICAL)  # it logs every failed call with a traceback


def connect(uri: str, token: str = "") -> MilvusClient:
    try:
        return MilvusClient(uri=uri, token=token, timeout=CONNECT_SECONDS) if token else MilvusClient(uri=uri, timeout=CONNECT_SECONDS)
    except MilvusException as e:
        raise IndexError_(f"无法连接 Milvus（{uri}）：{e.message}。请检查 KEFU_MILVUS_URI 和 Milvus 服务") from None


def analyzer(words: Sequence[str], stop_words: Sequence[str] = ()) -> dict:
    """Milvus's jieba tokenizer with our domain words (the only Chinese analyzer Milvus Lite
    has), optionally dropping stop words."""
    params: dict = {"tokenizer": {"type": "jieba", "dict": ["_default_", *sorted(set(words))], "mode": "search"}}
    if stop_words:
        params["filter"] = [{"type": "stop", "stop_words": sorted(set(stop_words))}]
    return params


class Milvus:
    """Collections, alias and blobs of one Kefu (one prefix) in one Milvus."""

    def __init__(self, uri: str, token: str = "", prefix: str = "kefu"):
        self.uri = uri
        self.client = connect(uri, token)
        self.prefix = prefix
        self.alias = f"{prefix}_live"
        self.meta = f"{prefix}_meta"

    def call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MilvusException as e:
            raise IndexError_(f"Milvus 操作失败（{what}）：{e.message}。请检查 Milvus 服务（{self.uri}）") from None

    def close(self) -> None:
        self.client.close()

    # --- names ------------------------------------------------------------------------------------

    def collection(self, version: str) -> str:
        return f"{self.prefix}_{version.replace('-', '_')}"

    def chunk_collections(self) -> list[str]:
        names = self.call("list_collections", self.client.list_collections)
        return sorted(n for n in names if n.startswith(self.prefix + "_v") and not n.endswith("_q"))

    # --- the alias --------------------------------------------------------------------------------

    def live_collection(self) -> str | None:
        try:
            return self.client.describe_alias(self.alias).get("collection_name") or None
        except MilvusException:
            return None  # no alias yet: nothing was ingested

    def point_alias(self, collection: str) -> None:
        """Make `collection` live: one atomic alter_alias (create_alias the first time)."""
        if self.live_collection() is None:
            try:
                self.client.create_alias(collection, self.alias)
                return
            except MilvusException:
                pass  # created meanwhile by another writer: alter it
        self.call("alter_alias", self.client.alter_alias, collection, self.alias)

    # --- a version's collections ------------------------------------------------------------------

    def create_version(self, collection: str, dim: int, rows: int, *, fulltext_words: Sequence[str] | None = None,
                       stop_words: Sequence[str] = ()) -> None:
        """The collections of a version. `fulltext_words` adds a `text` field under Milvus's
        jieba analyzer (with these domain words) and a BM25 function over it: measured
        against Kefu's own lexical side (eval/lexical_milvus.py), which won, so versions
        store Kefu's tokens and the full-text field only exists for that measurement."""
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("pos", DataType.INT64, is_primary=True)
        schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("chunk", DataType.VARCHAR, max_length=VARCHAR_MAX)
        schema.add_field("tokens", DataType.VARCHAR, max_length=VARCHAR_MAX)
        index = self.client.prepare_index_params()
        if rows >= HNSW_MIN_ROWS:
            index.add_index("embedding", index_type="HNSW", metric_type="COSINE", params=HNSW_PARAMS)
        else:
            index.add_index("embedding", index_type="FLAT", metric_type="COSINE")
        if fulltext_words is not None:
            schema.add_field("text", DataType.VARCHAR, max_length=VARCHAR_MAX, enable_analyzer=True,
                             analyzer_params=analyzer(fulltext_words, stop_words))
            schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
            schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["text"],
                                         output_field_names=["sparse"]))
            index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25", params={"bm25_k1": 1.2, "bm25_b": 0.75})
        self.call("create_collection", self.client.create_collection, collection, schema=schema, index_params=index)

        q_schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        q_schema.add_field("pos", DataType.INT64, is_primary=True)
        q_schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=dim)
        q_schema.add_field("passage", DataType.VARCHAR, max_length=512)
        q_schema.add_field("label", DataType.VARCHAR, max_length=512)
        q_schema.add_field("kind", DataType.VARCHAR, max_length=32)
        q_schema.add_field("text", DataType.VARCHAR, max_length=VARCHAR_MAX)
        q_index = self.client.prepare_index_params()
        q_index.add_index("embedding", index_type="FLAT", metric_type="COSINE")
        self.call("create_collection", self.client.create_collection, collection + "_q", schema=q_schema, index_params=q_index)

    def insert(self, collection: str, rows: Iterable[dict]) -> None:
        batch: list[dict] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= INSERT_BATCH:
                self.call("insert", self.client.insert, collection, batch)
                batch = []
        if batch:
            self.call("insert", self.client.insert, collection, batch)

    def seal(self, collection: str) -> None:
        """Flush and load both collections of a version, ready to search."""
        for name in (collection, collection + "_q"):
            self.call("flush", self.client.flush, name)
            self.call("load_collection", self.client.load_collection, name)

    def rows(self, collection: str, fields: list[str], total: int) -> list[dict]:
        """Every row of a collection in position order, `PAGE` rows per query."""
        out: list[dict] = []
        for start in range(0, total, PAGE):
            out += self.call("query", self.client.query, collection, filter=f"pos >= {start} and pos < {start + PAGE}",
                             output_fields=["pos", *fields], limit=PAGE)
        out.sort(key=lambda r: r["pos"])
        if len(out) != total or any(r["pos"] != i for i, r in enumerate(out)):
            raise IndexError_(f"Milvus 集合 {collection} 不完整（应有 {total} 行，读到 {len(out)} 行）：请运行 `kefu ingest`")
        return out

    def count(self, collection: str) -> int:
        if not self.client.has_collection(collection):
            return -1
        self.call("load_collection", self.client.load_collection, collection)  # a restarted server holds it released
        res = self.call("count", self.client.query, collection, filter="", output_fields=["count(*)"])
        return int(res[0]["count(*)"])

    def drop_version(self, collection: str) -> None:
        for name in (collection, collection + "_q"):
            if self.client.has_collection(name):
                self.call("drop_collection", self.client.drop_collection, name)
        self.delete_blobs(collection + "/")

    # --- search -----------------------------------------------------------------------------------

    def search(self, collection: str, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        res = self.call("search", self.client.search, collection, [vector.astype(np.float32).tolist()], anns_field="embedding",
                        limit=k, output_fields=["pos"],  # else Milvus Lite sends every hit's vector back
                        search_params={"metric_type": "COSINE", "params": {"ef": max(HNSW_EF, k)}})[0]
        ids = np.fromiter((h.id for h in res), dtype=np.int64, count=len(res))
        return ids, np.fromiter((h["distance"] for h in res), dtype=np.float32, count=len(res))

    def vectors(self, collection: str, positions: Sequence[int]) -> dict[int, np.ndarray]:
        res = self.call("get", self.client.get, collection, ids=[int(p) for p in positions], output_fields=["embedding"])
        return {int(r["pos"]): np.asarray(r["embedding"], dtype=np.float32) for r in res}

    def fulltext(self, collection: str, text: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Milvus's own BM25 over the `text` field (scores made positive: Lite returns them negated)."""
        if not text.strip():
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        res = self.call("full-text search", self.client.search, collection, [text], anns_field="sparse", limit=k,
                        output_fields=["pos"], search_params={"metric_type": "BM25"})[0]
        return (np.fromiter((h.id for h in res), dtype=np.int64, count=len(res)),
                np.fromiter((abs(h["distance"]) for h in res), dtype=np.float32, count=len(res)))

    # --- blobs: text split into rows under 60 KB ------------------------------------------------------

    def ensure_meta(self) -> None:
        if self.client.has_collection(self.meta):
            return
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=512)
        schema.add_field("part", DataType.INT64)
        schema.add_field("data", DataType.VARCHAR, max_length=VARCHAR_MAX)
        schema.add_field("_v", DataType.FLOAT_VECTOR, dim=2)  # a collection must have a vector field
        index = self.client.prepare_index_params()
        index.add_index("_v", index_type="FLAT", metric_type="L2")
        try:
            self.client.create_collection(self.meta, schema=schema, index_params=index)
        except MilvusException:
            if not self.client.has_collection(self.meta):  # else: another writer made it first
                raise
        self.call("load_collection", self.client.load_collection, self.meta)

    def put_blob(self, key: str, text: str) -> None:
        """Store `text` under `key`, replacing what was there (parts `key#0000`, ...)."""
        parts, current, size = [], [], 0
        for ch in text:
            n = len(ch.encode("utf-8"))
            if size + n > BLOB_PART_BYTES:
                parts.append("".join(current))
                current, size = [], 0
            current.append(ch)
            size += n
        parts.append("".join(current))
        self.ensure_meta()
        rows = [{"key": f"{key}#{i:04d}", "part": i, "data": p, "_v": [0.0, 0.0]} for i, p in enumerate(parts)]
        # Upsert in place (a one-part blob is replaced in one step), then drop parts beyond the new end.
        self.call("upsert", self.client.upsert, self.meta, rows)
        self.call("delete", self.client.delete, self.meta, filter=f'key like "{_like(key)}#%" and part >= {len(parts)}')
        self.call("flush", self.client.flush, self.meta)

    def get_blob(self, key: str) -> str | None:
        if not self.client.has_collection(self.meta):
            return None
        rows = self.call("query", self.client.query, self.meta, filter=f'key like "{_like(key)}#%"',
                         output_fields=["part", "data"], limit=16_384)
        if not rows:
            return None
        rows.sort(key=lambda r: r["part"])
        if [r["part"] for r in rows] != list(range(len(rows))):
            return None  # a part missing: being rewritten, or damaged
        return "".join(r["data"] for r in rows)

    def keys(self, key_prefix: str) -> set[str]:
        """The keys of the blobs whose key starts with `key_prefix`."""
        if not self.client.has_collection(self.meta):
            return set()
        rows = self.call("query", self.client.query, self.meta, filter=f'key like "{_like(key_prefix)}%" and part == 0',
                         output_fields=["key"], limit=16_384)
        return {r["key"].rsplit("#", 1)[0] for r in rows}

    def delete_blobs(self, key_prefix: str) -> None:
        if self.client.has_collection(self.meta):
            self.call("delete", self.client.delete, self.meta, filter=f'key like "{_like(key_prefix)}%"')

    def put_json(self, key: str, value) -> None:
        self.put_blob(key, json.dumps(value, ensure_ascii=False))

    def get_json(self, key: str):
        raw = self.get_blob(key)
        return None if raw is None else json.loads(raw)


def _like(key: str) -> str:
    """A key inside a Milvus `like` pattern. Our keys hold letters, digits and _ - / # only;
    quotes, backslashes and % are refused rather than escaped."""
    if any(c in key for c in '"\\%'):
        raise ValueError(f"unsafe key {key!r}")
    return key
