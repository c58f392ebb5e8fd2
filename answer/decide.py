"""Decide from a search result: in scope or not, which case (or category), how sure.

Deciding is apart from composing: the hit-test and the evaluation read the Decision itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.kb import FAQ
from core.settings import Settings
from core.types import CaseScore, Decision
from retrieval.search import SearchResult

# A second case this close to the first (in fused score) is offered as an alternative.
CLOSE_MARGIN = 0.012
# Softmax temperature turning case scores into a confidence; at 0.005 the mean confidence
# (0.950) matches dev-set hit@1 (0.946), expected calibration error 0.017 (0.069 at 0.01).
TEMPERATURE = 0.005


@dataclass(frozen=True)
class DecisionParams:
    """Thresholds calibrated on the dev set (`python -m eval.tune`); see README."""

    # In-scope evidence = cosine to the closest FAQ phrasing + best case score - cosine to the
    # closest out-of-scope example. Below this the KB does not cover the question.
    oos_threshold: float
    faq_threshold: float  # cosine of the query to an FAQ phrasing: answer with that FAQ
    close_margin: float = CLOSE_MARGIN
    temperature: float = TEMPERATURE

    @classmethod
    def from_settings(cls, settings: Settings) -> DecisionParams:
        return cls(oos_threshold=settings.oos_threshold, faq_threshold=settings.faq_threshold)


def evidence(r: SearchResult) -> float:
    """How strongly the KB, rather than the out-of-scope examples, claims the question.

    e5 cosines crowd into 0.8-0.95 for any Chinese text, so no single cosine separates
    "not covered" from "covered, phrased oddly"; contrasting the closest FAQ phrasing
    and best case with the closest out-of-scope example does (see README)."""
    faq = r.faq.cosine if r.faq else 0.0
    case = r.cases[0].score if r.cases else 0.0
    oos = r.oos.cosine if r.oos else 0.0
    return faq + case - oos


def decide(r: SearchResult, faqs: dict[str, FAQ], case_category: dict[str, str], p: DecisionParams) -> Decision:
    """The route an answer takes: an FAQ phrasing close enough to answer with its approved
    text, else the best case, else (a category-only FAQ on top) the category; or refused."""
    ev = evidence(r)

    def made(route: str, case: str | None = None, category: str | None = None, faq: str | None = None) -> Decision:
        return Decision(route, case, category, faq, ev, p.oos_threshold, r.faq, r.oos, r.cases)

    if not r.hits or ev < p.oos_threshold:
        return made("refused")
    if r.faq and r.faq.cosine >= p.faq_threshold and r.faq.passage in faqs:
        f = faqs[r.faq.passage]
        return made("faq", f.case, f.category, f.passage)
    top = r.hits[0].chunk
    # A category-only FAQ (价保, 注销账号) can beat every case.
    if top.kind == "faq" and not top.case:
        return made("category", None, top.category, top.passage)
    if not r.cases:
        return made("refused")
    return made("case", r.cases[0].title, case_category.get(r.cases[0].title))


def choose(d: Decision, case: str, case_category: dict[str, str]) -> Decision:
    """The decision for a case the user picked (an offered alternative): same scores, that case."""
    if case not in case_category:
        raise ValueError(f"unknown case {case!r}")
    return Decision("case", case, case_category[case], None, d.evidence, d.threshold, d.faq_match, d.oos_match, d.cases)


def confidence(cases: tuple[CaseScore, ...], case: str | None, temperature: float = TEMPERATURE) -> float:
    """The case's share of a softmax over the top five case scores."""
    top5 = cases[:5]
    if not top5 or case is None:
        return 0.0
    best = max(c.score for c in top5)
    weights = [math.exp((c.score - best) / temperature) for c in top5]
    mine = next((w for c, w in zip(top5, weights) if c.title == case), 0.0)
    return mine / sum(weights)


def alternative(d: Decision, margin: float = CLOSE_MARGIN) -> CaseScore | None:
    """The runner-up case when it is within `margin` of the decided (top) case."""
    cs = d.cases
    if d.case and len(cs) > 1 and cs[0].title == d.case and cs[1].score >= cs[0].score - margin:
        return cs[1]
    return None
