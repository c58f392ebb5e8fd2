"""What is live: the version, its model and what it holds, for `kefu index` and the consoles."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from index.store import VersionStore


@dataclass(frozen=True)
class IndexStatus:
    version: str
    model: str
    dimension: int
    built_at: str
    index_type: str
    chunks: int
    faqs: int
    playbooks: int
    questions: int  # FAQ questions and variants matched query-to-query
    cases: dict[str, int]  # case title -> chunks
    versions: list[str]  # kept versions, oldest first
    path: str  # the version's folder, or its Milvus collection
    sample_faqs: list[str] = field(default_factory=list)  # FAQ ids marked `sample: true`: replace before going live
    sample_replies: list[str] = field(default_factory=list)  # "case · situation" whose agent reply cites one
    store: str = "faiss"  # "faiss" | "milvus"

    def to_json(self) -> dict:
        return asdict(self)


def index_status(store: VersionStore) -> IndexStatus:
    v = store.read()
    cases = {c.title: 0 for c in v.kb.cases}
    for c in v.chunks:
        if c.case in cases:
            cases[c.case] += 1
    m = v.manifest
    samples = [f.id for f in v.kb.faqs if f.sample]
    sample_passages = {f"faq:{i}" for i in samples}
    replies = [f"{pb.case} · {s.when}" for pb in v.kb.playbooks for s in pb.situations if sample_passages & set(s.reply.cites)]
    return IndexStatus(
        version=v.name, model=m.model, dimension=m.dimension, built_at=m.built_at, index_type=m.index_type,
        chunks=len(v.chunks), faqs=m.counts["faqs"], playbooks=m.counts["playbooks"], questions=m.counts["questions"],
        cases=cases, versions=store.names(), path=str(v.path), sample_faqs=samples, sample_replies=replies, store=store.kind,
    )
