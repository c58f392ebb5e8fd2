"""The hit-test: what retrieval found for a question, in numbers that add up, and what the
assistant finally did with it (refused, or answered for which case, from which FAQ)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from answer.respond import Assistant
from retrieval.fuse import saturate


@dataclass(frozen=True)
class HitRow:
    rank: int
    passage: str  # "faq:LOG-007", "scope:5.3", "playbook:5.3"
    kind: str  # "faq" | "scope" | "doc" | "playbook"
    section: str
    case: str | None
    text: str
    fused: float  # = dense + lexical_weight * lexical: what ranks
    dense: float  # cosine similarity, 0-1 in practice
    lexical: float  # saturated BM25, bm25 / (bm25 + half), 0-1


@dataclass(frozen=True)
class HitTest:
    query: str
    tokens: tuple[str, ...]
    rows: tuple[HitRow, ...]
    lexical_weight: float
    refused: bool
    route: str  # "case" | "category" | "refused"
    case: str | None
    category: str | None
    faq_id: str | None  # the FAQ whose approved answer is the answer, if any
    confidence: float
    oos_probability: float
    threshold: float
    answer: str
    team: str
    kb_version: str
    uncovered: str = ""  # the topic, when refused as one the KB does not cover

    @property
    def verdict(self) -> str:
        """One line: what a customer asking this would get."""
        if self.refused:
            where = f"，转{self.team}" if self.team else ""
            if self.uncovered:
                return f"拒答：{self.uncovered}，知识库不收录{where}"
            return f"拒答：知识库未覆盖（未覆盖概率 {self.oos_probability:.0%} ≥ 阈值 {self.threshold:.0%}）{where}"
        target = f"案例「{self.case}」" if self.case else f"类别「{self.category}」"
        source = f"FAQ {self.faq_id} 的标准答复" if self.faq_id else "服务范围文档的案例说明"
        return f"作答：{target}（置信度 {self.confidence:.0%}），答复取自{source}"


def hit_test(assistant: Assistant, question: str, top: int = 10) -> HitTest:
    answer = assistant.ask(question, role="agent")
    result = assistant.searcher.search(question)
    params = assistant.searcher.params
    hits = result.hits[:top]
    lexical = saturate(np.array([h.lexical for h in hits], dtype=float), params.lexical_half) if hits else []
    rows = tuple(HitRow(h.rank, h.chunk.passage, h.chunk.kind, h.chunk.section, h.chunk.case, h.chunk.text,
                        h.score, h.dense, float(lex)) for h, lex in zip(hits, lexical))
    d = answer.decision
    return HitTest(
        query=result.query, tokens=result.tokens, rows=rows, lexical_weight=params.lexical_weight,
        refused=bool(d and d.refused), route=d.route if d else "refused", case=answer.case.title if answer.case else None,
        category=answer.case.category if answer.case else (d.category if d else None), faq_id=answer.faq_id,
        confidence=answer.confidence, oos_probability=d.oos_probability if d else 1.0,
        threshold=d.threshold if d else 0.0, answer=answer.answer, team=answer.team or "", kb_version=answer.kb_version,
        uncovered=d.uncovered if d else "",
    )
