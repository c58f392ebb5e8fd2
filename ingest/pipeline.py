"""load -> validate -> split -> embed (only what changed) -> write a version -> swap it in."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import IndexError_
from core.hashing import sha256_text
from core.kb import KnowledgeBase
from core.settings import Settings
from core.text import Lexicon
from core.types import Chunk, Hooks
from index import versions
from index.manifest import Manifest
from index.versions import IndexVersion, Phrasing
from ingest.split import split_kb
from ingest.validate import load_kb
from models.embed import KefuEmbeddings, load_embeddings

# Bump when splitting or tokenising changes, so an unchanged KB is still rebuilt.
PIPELINE_VERSION = 1


@dataclass
class DocumentDiff:
    source: str
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    version: str
    previous: str | None
    chunks: int
    embedded: int
    reused: int
    added: int
    changed: int
    removed: int
    seconds: float
    swapped: bool  # False when the KB was unchanged and the live version kept serving
    documents: list[DocumentDiff] = field(default_factory=list)

    def summary(self) -> dict:
        keys = ("version", "chunks", "embedded", "reused", "added", "changed", "removed", "seconds")
        out = {k: getattr(self, k) for k in keys}
        out["seconds"] = round(self.seconds, 3)
        out["previous"] = self.previous
        out["swapped"] = self.swapped
        return out


def phrasings(kb: KnowledgeBase) -> list[Phrasing]:
    """Phrasings matched query-to-query: every FAQ question and variant, and the examples
    of out-of-scope questions."""
    out = [Phrasing(f.passage, q) for f in kb.faqs for q in (f.question, *f.variants)]
    return out + [Phrasing("oos", q) for q in kb.negatives]


def diff_chunks(old: list[Chunk], new: list[Chunk]) -> list[DocumentDiff]:
    old_by_key = {c.key: c for c in old}
    new_by_key = {c.key: c for c in new}
    docs: dict[str, DocumentDiff] = {}
    for c in new:
        prev = old_by_key.get(c.key)
        if prev is None:
            docs.setdefault(c.source, DocumentDiff(c.source)).added.append(c.key)
        elif prev.id != c.id or prev.embed_text != c.embed_text:
            docs.setdefault(c.source, DocumentDiff(c.source)).changed.append(c.key)
    for c in old:
        if c.key not in new_by_key:
            docs.setdefault(c.source, DocumentDiff(c.source)).removed.append(c.key)
    return [docs[s] for s in sorted(docs)]


def _passage_key(text: str) -> str:
    return sha256_text(text)


def _phrasing_key(text: str) -> str:
    """Cache key of a phrasing's vector: apart from passages, as it has the query prompt."""
    return sha256_text("\0q" + text)


class _Embedder:
    """Embeds what the cache does not hold, reporting one running count across both kinds."""

    def __init__(self, embedder: KefuEmbeddings, cache: dict[str, np.ndarray], hooks: Hooks, total: int):
        self.embedder, self.cache, self.hooks, self.total = embedder, cache, hooks, total
        self.done = 0  # for the progress bar
        self.embedded = 0

    def _tick(self, n: int) -> None:
        self.done += n
        self.hooks.progress(self.done, self.total)

    def run(self, texts: list[str], key: Callable[[str], str], passages: bool) -> np.ndarray:
        out = np.zeros((len(texts), self.embedder.dim), dtype=np.float32)
        todo = []
        for i, t in enumerate(texts):
            v = self.cache.get(key(t))
            if v is None:
                todo.append(i)
            else:
                out[i] = v
        self.embedded += len(todo)
        if passages:
            if todo:
                out[todo] = self.embedder.encode_passages([texts[i] for i in todo], progress=self._tick)
            return out
        # Phrasings are matched query-to-query, so they get the query prompt.
        for start in range(0, len(todo), 64):
            idx = todo[start:start + 64]
            out[idx] = self.embedder.encode_queries([texts[i] for i in idx])
            self._tick(len(idx))
        return out


def run_ingest(settings: Settings, embedder: KefuEmbeddings | None = None, hooks: Hooks | None = None) -> IngestReport:
    hooks = hooks or Hooks()
    started = time.perf_counter()
    hooks.message(f"正在读取 {settings.kb_dir}")
    kb = load_kb(settings.kb_dir, settings.max_file_bytes)
    chunks = split_kb(kb)
    index_dir = settings.index_dir
    prompts = {"query": settings.query_prompt, "passage": settings.passage_prompt}
    with versions.ingest_lock(index_dir, settings.lock_timeout):
        embedder = embedder or load_embeddings(settings, hooks.message)
        live = _live_or_none(index_dir, hooks)
        same_model = live is not None and live.model == embedder.name and live.manifest.prompts == prompts
        if same_model and live.manifest.kb_hash == kb.content_hash and live.manifest.pipeline == PIPELINE_VERSION:
            hooks.message(f"知识库未变化：{live.name} 继续作为线上版本")
            return IngestReport(live.name, live.name, len(live.chunks), 0, len(live.chunks), 0, 0, 0,
                                time.perf_counter() - started, swapped=False)

        cache: dict[str, np.ndarray] = {}
        if same_model:
            cache = {_passage_key(c.embed_text): live.vectors[i] for i, c in enumerate(live.chunks)}
            cache.update({_phrasing_key(p.text): live.phrasing_vectors[i] for i, p in enumerate(live.phrasings)})
        phrases = phrasings(kb)
        chunk_texts = [c.embed_text for c in chunks]
        phrase_texts = [p.text for p in phrases]
        total = (sum(_passage_key(t) not in cache for t in chunk_texts)
                 + sum(_phrasing_key(t) not in cache for t in phrase_texts))
        if total:
            hooks.message(f"正在用 {embedder.name} 嵌入 {total} 条新增或修改的文本")
        work = _Embedder(embedder, cache, hooks, total)
        vectors = work.run(chunk_texts, _passage_key, passages=True)
        embedded = work.embedded
        pvecs = work.run(phrase_texts, _phrasing_key, passages=False)

        name = versions.new_version_name(index_dir, kb.content_hash)
        chunks = [dataclasses.replace(c, kb_version=name) for c in chunks]
        manifest = Manifest(
            version=name, model=embedder.name, dimension=embedder.dim, prompts=prompts, pipeline=PIPELINE_VERSION,
            kb_hash=kb.content_hash, built_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            counts={"chunks": len(chunks), "faqs": len(kb.faqs), "playbooks": len(kb.playbooks),
                    "cases": len(kb.cases), "questions": len(phrases) - len(kb.negatives),
                    "out_of_scope_examples": len(kb.negatives), "embedded": embedded},
            kb_files=kb.files, package_version="", index_type="",
        )
        hooks.message(f"正在写入索引版本 {name}")
        lexicon = Lexicon(kb.words, kb.synonyms)
        tokens = [lexicon.tokenize(c.embed_text) for c in chunks]
        versions.write_version(index_dir, manifest, chunks, tokens, vectors, phrases, pvecs, kb)
        versions.set_current(index_dir, name)
        versions.prune(index_dir, settings.keep_versions)

    docs = diff_chunks(live.chunks if live else [], chunks)
    return IngestReport(
        version=name, previous=live.name if live else None, chunks=len(chunks), embedded=embedded,
        reused=len(chunks) - embedded, added=sum(len(d.added) for d in docs), changed=sum(len(d.changed) for d in docs),
        removed=sum(len(d.removed) for d in docs), seconds=time.perf_counter() - started, swapped=True, documents=docs,
    )


def _live_or_none(index_dir: Path, hooks: Hooks) -> IndexVersion | None:
    try:
        return versions.read_version(index_dir)
    except IndexError_ as e:
        if versions.current_version(index_dir):
            hooks.message(f"线上索引无法复用（{e}），将从头构建")
        return None


def preview(settings: Settings, kb_dir: Path | None = None) -> tuple[KnowledgeBase, list[Chunk], list[DocumentDiff]]:
    """Validate and split a KB folder without writing anything: what an ingest would change."""
    kb = load_kb(kb_dir or settings.kb_dir, settings.max_file_bytes)
    chunks = split_kb(kb)
    live = _live_or_none(settings.index_dir, Hooks())
    return kb, chunks, diff_chunks(live.chunks if live else [], chunks)
