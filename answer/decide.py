"""Decide from a search result: in scope or not, which case (or category), how sure, and
which other cases are close enough to offer.

Every label (each case, each FAQ that fits a category but no case, and `oos`) gets one logit:

    z = classifier logit + GAMMA * gram classifier logit + ALPHA * rollup / 0.01 + BETA * lexical / 0.01

rollup is the label's best fused chunk score (cosine + 0.1 * saturated BM25; for `oos`, the
cosine of the closest out-of-scope example), lexical its best saturated BM25. The classifiers
(learned at ingest from the KB's phrasings: one over the embedding, one over characters and
character pairs) and the retrieval scores err on different questions; together they beat
each alone on real customer messages (README, "Deciding the case"). Deciding is apart from
composing: the hit-test and the evaluation read the Decision itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from core.classifier import OOS_LABEL, label_category, topic_label
from core.settings import Settings
from core.types import CaseScore, Chunk, Decision
from retrieval.fuse import saturate
from retrieval.search import SearchParams, SearchResult

# Weights of the retrieval scores against the classifier's logits; a fused-score difference
# of 0.01 is worth ALPHA logits. Chosen on a plateau (ALPHA 1.0-2.0, BETA 0.1; README).
ALPHA = 1.5
BETA = 0.1
# Weight of the gram classifier's logits: 0.25 and 0.5 gain alike on real openings, 0.5 costs
# the chat set one row and shows more wrong answers at >= 0.9 (README, "Deciding the case").
GAMMA = 0.25
# Temperature of the confidence: the raw softmax is overconfident on real messages. At 2.0 the
# calibration error is lowest on real openings the weights were never tuned on; the clean
# team-written questions would prefer 1.5, but real messages are what users type (README).
TEMPERATURE = 2.0
# Offer every case whose tempered probability is at least this share of the top one's.
OFFER_RATIO = 0.4
MAX_OFFERED = 3  # the decided case and at most two others
# A refusal this sure names no likely category and offers no case.
SURE_OOS = 0.9
# A refusal that is not sure offers its best case when that case's tempered probability reaches
# this: a customer whose question was refused wrongly gets back to the answer in one click.
MIN_MAYBE = 0.1


@dataclass(frozen=True)
class DecisionParams:
    """The refusal threshold is calibrated per KB and model (`python -m eval.tune`)."""

    oos_threshold: float  # refuse when the probability of `oos` reaches it
    min_evidence: float = 0.0  # or when the evidence (see `evidence`) falls below it
    alpha: float = ALPHA
    beta: float = BETA
    gamma: float = GAMMA
    temperature: float = TEMPERATURE
    offer_ratio: float = OFFER_RATIO
    lexical_half: float = SearchParams.lexical_half

    @classmethod
    def from_settings(cls, settings: Settings) -> DecisionParams:
        return cls(oos_threshold=settings.oos_threshold, min_evidence=settings.min_evidence)

    def confidence_of(self, margin: float) -> float:
        """The confidence a lead of `margin` logits over a single rival is shown with; bars set
        as margins keep their meaning when the temperature is re-chosen."""
        return 1.0 / (1.0 + math.exp(-margin / self.temperature))


def label_of(chunk: Chunk) -> str | None:
    """The classifier label a chunk speaks for: its case, or its own topic for an FAQ with no case."""
    if chunk.case:
        return chunk.case
    if chunk.kind == "faq" and chunk.category:
        return topic_label(chunk.category, chunk.passage)
    return None


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def evidence(r: SearchResult) -> float:
    """How strongly the KB, rather than the out-of-scope examples, claims the question: the
    closest FAQ phrasing's cosine plus the best case's fused score, minus the closest
    out-of-scope example's cosine. The classifier's `oos` label learns from a few dozen
    examples against a thousand in-scope phrasings; this contrast catches what it misses."""
    faq = r.faq.cosine if r.faq else 0.0
    case = r.cases[0].score if r.cases else 0.0
    oos = r.oos.cosine if r.oos else 0.0
    return faq + case - oos


def fused_logits(r: SearchResult, p: DecisionParams) -> np.ndarray:
    index = {label: j for j, label in enumerate(r.labels)}
    rollup = np.zeros(len(r.labels))
    lexical = np.zeros(len(r.labels))
    # Each label's best hit, as array operations: this runs for every search of a question.
    rows = [(j, h.score, h.lexical) for h in r.hits if (j := index.get(label_of(h.chunk))) is not None]
    if rows:
        js, scores, lex = (np.array(c) for c in zip(*rows, strict=True))
        np.maximum.at(rollup, js, scores)
        np.maximum.at(lexical, js, saturate(lex.astype(np.float64), p.lexical_half))
    if OOS_LABEL in index and r.oos:
        rollup[index[OOS_LABEL]] = r.oos.cosine
    z = np.asarray(r.logits, dtype=np.float64) + p.alpha * rollup / 0.01 + p.beta * lexical / 0.01
    if r.gram_logits:
        z += p.gamma * np.asarray(r.gram_logits, dtype=np.float64)
    return z


def decide(r: SearchResult, case_category: dict[str, str], p: DecisionParams) -> Decision:
    """Refused when `oos` is probable enough; else the most probable in-scope label: a case,
    or a category for a topic with no case. Confidence is its tempered probability among the
    in-scope labels."""
    if not r.hits or not r.labels:
        return Decision("refused", None, None, None, 1.0, p.oos_threshold, r.faq, r.oos, (), 0.0)
    z = fused_logits(r, p)
    labels = list(r.labels)
    p_oos = float(_softmax(z)[labels.index(OOS_LABEL)]) if OOS_LABEL in labels else 0.0
    inside = [j for j, label in enumerate(labels) if label != OOS_LABEL]
    tempered = _softmax(z[inside] / p.temperature)
    order = np.argsort(-tempered, kind="stable")
    cases = tuple(CaseScore(labels[inside[k]], float(tempered[k])) for k in order if labels[inside[k]] in case_category)
    top = labels[inside[order[0]]]
    confidence = float(tempered[order[0]])

    def made(route: str, case: str | None, category: str | None, faq: str | None = None) -> Decision:
        return Decision(route, case, category, faq, p_oos, p.oos_threshold, r.faq, r.oos, cases, confidence)

    if p_oos >= p.oos_threshold or evidence(r) < p.min_evidence:
        likely = label_category(top) or case_category.get(top)
        return Decision("refused", None, likely, None, p_oos, p.oos_threshold, r.faq, r.oos, cases, 0.0)
    if (category := label_category(top)) is not None:
        faq = next((h.chunk.passage for h in r.hits if label_of(h.chunk) == top), None)
        return made("category", None, category, faq)
    return made("case", top, case_category[top])


def choose(d: Decision, case: str, case_category: dict[str, str]) -> Decision:
    """The decision for a case the user picked (an offered alternative): same scores, that case,
    with its own probability as the confidence."""
    if case not in case_category:
        raise ValueError(f"unknown case {case!r}")
    confidence = next((c.score for c in d.cases if c.title == case), 0.0)
    return Decision("case", case, case_category[case], None, d.oos_probability, d.threshold, d.faq_match,
                    d.oos_match, d.cases, confidence)


def uncovered(d: Decision, topic: str) -> Decision:
    """Refused as a topic the KB does not cover: a pre-sale question about a product
    (`core.text.is_presale`; the KB holds no stock, accessories or specs) or a topic the KB
    declares uncovered (`core.text.uncovered_topic`). No score makes it an answer."""
    return replace(d, route="refused", case=None, category=None, faq=None, confidence=0.0, uncovered=topic)


def offered(d: Decision, ratio: float = OFFER_RATIO) -> tuple[CaseScore, ...]:
    """Other cases close enough to the decided one to ask "您是想问…？"."""
    if d.refused or not d.cases:
        return ()
    best = max(d.confidence, d.cases[0].score)
    return tuple(c for c in d.cases if c.title != d.case and c.score >= ratio * best)[: MAX_OFFERED - 1]


def might_be(d: Decision, ratio: float = OFFER_RATIO) -> tuple[CaseScore, ...]:
    """For a refusal that is not sure: the cases the question may still be about, offered
    beside the handover. None for a topic the KB does not cover."""
    if not d.refused or d.uncovered or d.oos_probability >= SURE_OOS or not d.cases or d.cases[0].score < MIN_MAYBE:
        return ()
    return tuple(c for c in d.cases if c.score >= ratio * d.cases[0].score)[: MAX_OFFERED - 1]
