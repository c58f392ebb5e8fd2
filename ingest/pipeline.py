"""load -> validate -> split -> embed (only what changed) -> write a version -> swap it in."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.errors import IndexError_
from core.hashing import sha256_text
from core.kb import KnowledgeBase, content_hash
from core.settings import Settings
from core.text import Lexicon
from core.types import Chunk, Hooks
from index.manifest import Manifest
from index.store import VersionStore, live_or_none, newest_intact
from index.versions import IndexVersion
from ingest.collect import read_sources
from ingest.split import split_kb
from ingest.store import open_versions
from ingest.train import label_space, phrasings, train_classifier
from ingest.validate import build_kb, load_kb

if TYPE_CHECKING:
    from models.embed import KefuEmbeddings

# Bump when splitting, tokenising or the shape of kb.json changes, so an unchanged KB is
# still rebuilt. 2: playbook situations and teams.
PIPELINE_VERSION = 2


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

    def __init__(self, embedder: KefuEmbeddings | None, dim: int, cache: dict[str, np.ndarray], hooks: Hooks, total: int):
        # No embedder when everything is cached: the model is loaded only when something must be embedded.
        self.embedder, self.dim, self.cache, self.hooks, self.total = embedder, dim, cache, hooks, total
        self.done = 0  # for the progress bar
        self.embedded = 0

    def _tick(self, n: int) -> None:
        self.done += n
        self.hooks.progress(self.done, self.total)

    def run(self, texts: list[str], key: Callable[[str], str], passages: bool) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
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


def run_ingest(settings: Settings, embedder: KefuEmbeddings | None = None, hooks: Hooks | None = None,
               load_embedder: Callable[[], KefuEmbeddings] | None = None) -> IngestReport:
    """Ingest `settings.kb_dir`. The files are hashed first: an unchanged KB keeps the live
    version without parsing anything or loading the model; the model (`embedder`, else
    `load_embedder()`, else the configured one) is loaded only when something must be embedded."""
    hooks = hooks or Hooks()
    started = time.perf_counter()
    hooks.message(f"正在读取 {settings.kb_dir}")
    sources = read_sources(settings.kb_dir, settings.max_file_bytes)
    kb_hash = content_hash({s.rel: s.sha256 for s in sources})
    store = open_versions(settings)
    prompts = {"query": settings.query_prompt, "passage": settings.passage_prompt}
    model = embedder.name if embedder is not None else settings.embedding_model
    with store.lock(settings.lock_timeout):
        store.remove_leftovers()
        live = _live_manifest(store, hooks)
        same = live is not None and live.model == model and live.prompts == prompts
        if same and live.kb_hash == kb_hash and live.pipeline == PIPELINE_VERSION:
            hooks.message(f"知识库未变化：{live.version} 继续作为线上版本")
            n = live.counts.get("chunks", 0)
            return IngestReport(live.version, live.version, n, 0, n, 0, 0, 0, time.perf_counter() - started, swapped=False)

        kb = build_kb(sources)
        chunks = split_kb(kb)
        donor = _donor(store, live.version if same else None, model, prompts)
        cache: dict[str, np.ndarray] = {}
        if donor is not None:
            donor_vectors = store.vectors(donor)
            cache = {_passage_key(c.embed_text): donor_vectors[i] for i, c in enumerate(donor.chunks)}
            cache.update({_phrasing_key(p.text): donor.phrasing_vectors[i] for i, p in enumerate(donor.phrasings)})
        phrases = phrasings(kb)
        chunk_texts = [c.embed_text for c in chunks]
        phrase_texts = [p.text for p in phrases]
        total = (sum(_passage_key(t) not in cache for t in chunk_texts)
                 + sum(_phrasing_key(t) not in cache for t in phrase_texts))
        if total and embedder is None:
            from models.embed import load_embeddings  # only now: an unchanged KB never imports the model stack

            embedder = load_embedder() if load_embedder else load_embeddings(settings, hooks.message)
        if total:
            hooks.message(f"正在用 {embedder.name} 嵌入 {total} 条新增或修改的文本")
        dim = embedder.dim if embedder is not None else donor.manifest.dimension
        work = _Embedder(embedder, dim, cache, hooks, total)
        vectors = work.run(chunk_texts, _passage_key, passages=True)
        embedded = work.embedded
        pvecs = work.run(phrase_texts, _phrasing_key, passages=False)
        hooks.message("正在根据知识库训练案例分类器")
        classifier = train_classifier(pvecs, phrase_texts, [p.label for p in phrases], label_space(kb))

        name = store.new_name(kb.content_hash)
        chunks = [dataclasses.replace(c, kb_version=name) for c in chunks]
        manifest = Manifest(
            version=name, model=model, dimension=dim, prompts=prompts, pipeline=PIPELINE_VERSION,
            kb_hash=kb.content_hash, built_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            counts={"chunks": len(chunks), "faqs": len(kb.faqs), "playbooks": len(kb.playbooks),
                    "cases": len(kb.cases), "questions": sum(p.kind == "faq" for p in phrases),
                    "out_of_scope_examples": len(kb.negatives), "embedded": embedded},
            kb_files=kb.files, package_version="", index_type="", files={},
        )
        hooks.message(f"正在写入索引版本 {name}")
        lexicon = Lexicon(kb.words, kb.synonyms)
        tokens = [lexicon.tokenize(c.embed_text) for c in chunks]
        store.write(manifest, chunks, tokens, vectors, phrases, pvecs, kb, classifier, sources)
        previous = live_or_none(store)
        store.set_live(name, "ingest", previous)
        store.prune(settings.keep_versions)

    docs = diff_chunks(donor.chunks if donor is not None and same else [], chunks)
    return IngestReport(
        version=name, previous=previous, chunks=len(chunks), embedded=embedded,
        reused=len(chunks) - embedded, added=sum(len(d.added) for d in docs), changed=sum(len(d.changed) for d in docs),
        removed=sum(len(d.removed) for d in docs), seconds=time.perf_counter() - started, swapped=True, documents=docs,
    )


def _live_manifest(store: VersionStore, hooks: Hooks) -> Manifest | None:
    """The live version's manifest once it verifies, else None (and say why)."""
    try:
        live = store.live()
        return store.verify(live) if live else None
    except IndexError_ as e:
        hooks.message(f"线上索引无法复用（{e}），将构建新版本")
        return None


def _donor(store: VersionStore, live: str | None, model: str, prompts: dict[str, str]) -> IndexVersion | None:
    """The version whose vectors are reused: the live one, else the newest intact one of the
    same model and prompts (CURRENT missing or damaged costs no re-embedding)."""
    name = live or newest_intact(store, model)
    if name is None:
        return None
    try:
        version = store.read(name, expected_model=model)
    except IndexError_:
        return None
    return version if version.manifest.prompts == prompts else None


def _live_or_none(store: VersionStore) -> IndexVersion | None:
    try:
        return store.read()
    except IndexError_:
        return None


def preview(settings: Settings, kb_dir: Path | None = None, changed: str | None = None
            ) -> tuple[KnowledgeBase, list[Chunk], list[DocumentDiff]]:
    """Validate and split a KB folder without writing anything: what an ingest would change.
    `changed`: the file being edited, blamed when it clashes with another."""
    kb = load_kb(kb_dir or settings.kb_dir, settings.max_file_bytes, changed)
    chunks = split_kb(kb)
    live = _live_or_none(open_versions(settings))
    return kb, chunks, diff_chunks(live.chunks if live else [], chunks)
