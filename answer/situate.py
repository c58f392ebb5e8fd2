"""Pick the playbook situation a question is about. Deterministic and explainable: an agent
sees which of the question's words chose it.

1. The situation with the most of its `keywords` in the question wins (editors list them).
2. Between equals, the one whose reply cites the FAQ that matched the question best: the
   search has already scored every FAQ against the question, densely and lexically.
3. Between equals still, the first: a playbook lists its default situation first.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.kb import Situation


@dataclass(frozen=True)
class Pick:
    index: int  # into the playbook's situations; -1 when it has none
    matched: tuple[str, ...]  # the keywords found in the question


def situate(situations: tuple[Situation, ...], query: str, passage_scores: dict[str, float]) -> Pick:
    """`query` is the normalised question (simplified, half-width, English rewritten);
    `passage_scores` the search's best fused score of each passage."""
    folded = query.lower()
    best: tuple[tuple[int, float], int, tuple[str, ...]] | None = None
    for i, s in enumerate(situations):
        matched = tuple(k for k in s.keywords if k.lower() in folded)
        faq = max((passage_scores.get(c, 0.0) for c in s.reply.cites if c.startswith("faq:")), default=0.0)
        key = (len(matched), faq)
        if best is None or key > best[0]:
            best = (key, i, matched)
    return Pick(best[1], best[2]) if best else Pick(-1, ())
