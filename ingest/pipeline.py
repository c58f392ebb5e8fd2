"""load -> validate -> split -> embed (only what changed) -> write a version -> swap it in."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ingest.split import split_kb
from ingest.validate import load_kb
from kefu.errors import IndexError_
from kefu.settings import Settings
from kefu.text import Lexicon
from kefu.types import Chunk, KnowledgeBase, text_hash
from retrieval import store
from retrieval.embed import KefuEmbeddings, load_embeddings


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


@dataclass
class Hooks:
    """How a caller (CLI, app) hears about progress: a message, and embedding counts."""

    message: Callable[[str], None] = lambda _msg: None
    progress: Callable[[int, int], None] = lambda _done, _total: None


def kb_snapshot(kb: KnowledgeBase) -> dict:
    """What queries need besides chunks, frozen with the version (playbooks, FAQ entries, lexicon)."""
    return {
        "categories": list(kb.categories),
        "cases": [dataclasses.asdict(c) for c in kb.cases],
        "playbooks": [pb.to_dict() for pb in kb.playbooks],
        "faqs": [dataclasses.asdict(f) for f in kb.faqs],
        "words": list(kb.words),
        "synonyms": [list(g) for g in kb.synonyms],
        "escalation": [list(p) for p in kb.escalation],
        "files": kb.files,
    }


def faq_questions(kb: KnowledgeBase) -> list[dict]:
    """Phrasings matched query-to-query: every FAQ question and variant, and the examples
    of out-of-scope questions (passage "oos")."""
    questions = [{"passage": f"faq:{f.id}", "text": q} for f in kb.faqs for q in (f.question, *f.variants)]
    return questions + [{"passage": "oos", "text": q} for q in kb.negatives]


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


def _question_key(text: str) -> str:
    """Cache key of an FAQ phrasing's vector: apart from passages, as it has the query prompt."""
    return text_hash("\0q" + text)


def _embed_with_cache(texts: list[str], cache: dict[str, np.ndarray], embedder: KefuEmbeddings,
                      hooks: Hooks, total: int, done: int) -> tuple[np.ndarray, int]:
    out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    todo = []
    for i, t in enumerate(texts):
        v = cache.get(text_hash(t))
        if v is None:
            todo.append(i)
        else:
            out[i] = v
    if todo:
        counter = {"n": done}

        def tick(n: int) -> None:
            counter["n"] += n
            hooks.progress(counter["n"], total)

        out[todo] = embedder.encode_passages([texts[i] for i in todo], progress=tick)
    return out, len(todo)


def run_ingest(settings: Settings, embedder: KefuEmbeddings | None = None, hooks: Hooks | None = None) -> IngestReport:
    hooks = hooks or Hooks()
    started = time.perf_counter()
    hooks.message(f"正在读取 {settings.kb_dir}")
    kb = load_kb(settings.kb_dir, settings.max_file_bytes)
    chunks = split_kb(kb)
    index_dir = settings.index_dir
    with store.ingest_lock(index_dir, settings.lock_timeout):
        embedder = embedder or load_embeddings(settings, hooks.message)
        live = _live_or_none(index_dir, hooks)
        same_model = live is not None and live.model == embedder.name and live.manifest.get("prompts") == _prompts(settings)
        if same_model and live.manifest.get("kb_hash") == kb.content_hash and live.manifest.get("pipeline") == PIPELINE_VERSION:
            hooks.message(f"知识库未变化：{live.name} 继续作为线上版本")
            return IngestReport(live.name, live.name, len(live.chunks), 0, len(live.chunks), 0, 0, 0,
                                time.perf_counter() - started, swapped=False)

        cache: dict[str, np.ndarray] = {}
        if same_model:
            cache = {text_hash(c.embed_text): live.vectors[i] for i, c in enumerate(live.chunks)}
            cache.update({_question_key(q["text"]): live.question_vectors[i] for i, q in enumerate(live.questions)})
        questions = faq_questions(kb)
        chunk_texts = [c.embed_text for c in chunks]
        total = sum(text_hash(t) not in cache for t in chunk_texts) + sum(_question_key(q["text"]) not in cache for q in questions)
        if total:
            hooks.message(f"正在用 {embedder.name} 嵌入 {total} 条新增或修改的文本")
        vectors, embedded = _embed_with_cache(chunk_texts, cache, embedder, hooks, total, 0)
        # FAQ questions are matched query-to-query, so they get the query prompt.
        qvecs = _embed_questions(questions, cache, embedder, hooks, total, embedded)

        name = store.new_version_name(index_dir, kb.content_hash)
        chunks = [dataclasses.replace(c, kb_version=name) for c in chunks]
        manifest = {
            "model": embedder.name, "dimension": embedder.dim, "prompts": _prompts(settings), "pipeline": PIPELINE_VERSION,
            "kb_hash": kb.content_hash, "built_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "counts": {"chunks": len(chunks), "faqs": len(kb.faqs), "playbooks": len(kb.playbooks),
                       "cases": len(kb.cases), "questions": len(questions) - len(kb.negatives),
                       "out_of_scope_examples": len(kb.negatives), "embedded": embedded},
            "kb_files": kb.files,
        }
        hooks.message(f"正在写入索引版本 {name}")
        lexicon = Lexicon(kb.words, kb.synonyms)
        tokens = [lexicon.tokenize(c.embed_text) for c in chunks]
        store.write_version(index_dir, name, manifest, chunks, tokens, vectors, questions, qvecs, kb_snapshot(kb))
        store.set_current(index_dir, name)
        store.prune(index_dir, settings.keep_versions)

    docs = diff_chunks(live.chunks if live else [], chunks)
    return IngestReport(
        version=name, previous=live.name if live else None, chunks=len(chunks), embedded=embedded,
        reused=len(chunks) - embedded, added=sum(len(d.added) for d in docs), changed=sum(len(d.changed) for d in docs),
        removed=sum(len(d.removed) for d in docs), seconds=time.perf_counter() - started, swapped=True, documents=docs,
    )


def _prompts(settings: Settings) -> dict:
    return {"query": settings.query_prompt, "passage": settings.passage_prompt}


def _embed_questions(questions: list[dict], cache: dict, embedder: KefuEmbeddings, hooks: Hooks, total: int, done: int) -> np.ndarray:
    out = np.zeros((len(questions), embedder.dim), dtype=np.float32)
    todo = []
    for i, q in enumerate(questions):
        v = cache.get(_question_key(q["text"]))
        if v is None:
            todo.append(i)
        else:
            out[i] = v
    step = 64
    for start in range(0, len(todo), step):
        idx = todo[start:start + step]
        out[idx] = embedder.encode_queries([questions[i]["text"] for i in idx])
        hooks.progress(done + start + len(idx), total)
    return out


def _live_or_none(index_dir, hooks: Hooks):
    try:
        return store.read_version(index_dir)
    except IndexError_ as e:
        if store.current_version(index_dir):
            hooks.message(f"线上索引无法复用（{e}），将从头构建")
        return None


def preview(settings: Settings, kb_dir=None) -> tuple[KnowledgeBase, list[Chunk], list[DocumentDiff]]:
    """Validate and split a KB folder without writing anything: what an ingest would change."""
    kb = load_kb(kb_dir or settings.kb_dir, settings.max_file_bytes)
    chunks = split_kb(kb)
    live = _live_or_none(settings.index_dir, Hooks())
    return kb, chunks, diff_chunks(live.chunks if live else [], chunks)


@dataclass(frozen=True)
class DocumentStatus:
    path: str
    status: str  # "live" | "modified" | "new" | "deleted"


def document_status(settings: Settings) -> list[DocumentStatus]:
    """Each KB file against the live index: served as is, changed since, new, or gone."""
    from ingest.load import file_digest, kb_files

    # The manifest alone says what is served; loading and checksumming the whole version
    # on every editor-page rerun would be wasted work.
    live = store.current_version(settings.index_dir)
    served = {}
    if live:
        try:
            served = store.read_manifest(store.versions_dir(settings.index_dir) / live).get("kb_files", {})
        except IndexError_:
            pass  # an unreadable manifest serves nothing we can compare: every file shows as new
    out = []
    on_disk = {}
    for path in kb_files(settings.kb_dir):
        rel = path.relative_to(settings.kb_dir).as_posix()
        on_disk[rel] = file_digest(path.read_bytes())
    for rel in sorted(set(on_disk) | set(served)):
        if rel not in on_disk:
            out.append(DocumentStatus(rel, "deleted"))
        elif rel not in served:
            out.append(DocumentStatus(rel, "new"))
        else:
            out.append(DocumentStatus(rel, "live" if served[rel] == on_disk[rel] else "modified"))
    return out
