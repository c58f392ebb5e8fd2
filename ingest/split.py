"""Split the validated KB into chunks: whole sentences, an FAQ entry as one unit,
the heading path kept with every chunk."""

from __future__ import annotations

from core.kb import KnowledgeBase
from core.text import pack_sentences, split_sentences
from core.types import Chunk

MAX_CHUNK_CHARS = 300


def split_kb(kb: KnowledgeBase, max_chars: int = MAX_CHUNK_CHARS) -> list[Chunk]:
    chunks: list[Chunk] = []

    def add(key, passage, kind, source, section, text, case, category, questions=()):
        chunks.append(Chunk(
            id=Chunk.make_id(source, text), key=key, passage=passage, kind=kind, source=source,
            section=section, text=text, case=case, category=category,
            questions=tuple(questions),
        ))

    off = set(kb.disabled)
    for p in kb.passages:
        if p.id in off:
            continue
        kind = "scope" if p.id.startswith("scope:") else "doc"
        pieces = pack_sentences(split_sentences(p.text), max_chars)
        for k, piece in enumerate(pieces, start=1):
            key = p.id if len(pieces) == 1 else f"{p.id}#{k}"
            add(key, p.id, kind, p.source, p.section, piece, p.case, p.category)

    for f in kb.faqs:
        if f.passage in off:
            continue
        # Never cut an FAQ: a half answer is a wrong answer.
        section = " > ".join(x for x in ("常见问题", f.category, f.case) if x)
        add(f"faq:{f.id}", f"faq:{f.id}", "faq", f.file, section, f"问：{f.question}\n答：{f.answer}",
            f.case, f.category, (f.question, *f.variants))

    for pb in kb.playbooks:
        lines = [pb.summary]
        lines += [f"适用：{i.text}" for i in pb.preconditions]
        for sit in pb.situations:
            lines.append(f"情形：{sit.when}")
            lines += [f"{n}. {i.text}" for n, i in enumerate(sit.steps, start=1)]
        lines += [f"自助：{i.text}" for i in pb.self_service]
        case = next(c for c in kb.cases if c.title == pb.case)
        pid = "playbook:" + case.passage.split(":", 1)[1]
        add(pid, pid, "playbook", pb.file, f"处理手册 > {pb.category} > {pb.case}", "\n".join(lines), pb.case, pb.category)
    return chunks
