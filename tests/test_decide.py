"""The decision on hand-built search results: the fused logits, the refusal boundary, a
category-only topic, close cases offered, and the tempered confidence. No model, no index."""

import dataclasses

import numpy as np
import pytest

from answer.decide import DecisionParams, choose, decide, evidence, fused_logits, might_be, offered, uncovered
from core.types import CaseScore, Chunk, Hit, Match
from retrieval.search import SearchResult

CASES = {"包裹丢失或损毁": "物流与配送问题", "冷链商品温控异常": "物流与配送问题", "发票问题": "订单相关问题"}
LABELS = ("包裹丢失或损毁", "冷链商品温控异常", "发票问题", "cat:支付与退款问题|faq:PAY-9", "oos")


def chunk(passage: str, case: str | None, category: str, kind: str = "scope") -> Chunk:
    return Chunk(passage, passage, passage, kind, "x.md", "节", "正文", case, category)


def result(rollup: dict[str, float], logits=(0.0, 0.0, 0.0, 0.0, 0.0), oos_cos: float = 0.80,
           lexical: dict[str, float] | None = None) -> SearchResult:
    hits = []
    for label, score in sorted(rollup.items(), key=lambda kv: -kv[1]):
        if label.startswith("cat:"):
            category, _, faq = label[4:].rpartition("|")
            c = chunk(faq, None, category, kind="faq")
        else:
            c = chunk(f"scope:{label}", label, CASES[label])
        hits.append(Hit(c, score, score, (lexical or {}).get(label, 0.0), len(hits) + 1))
    cases = tuple(CaseScore(label, score) for label, score in sorted(rollup.items(), key=lambda kv: -kv[1]) if label in CASES)
    return SearchResult(query="q", tokens=("q",), hits=tuple(hits), cases=cases, categories=(),
                        faq=Match("faq:LOG-1", 0.9, "问"), oos=Match("oos", oos_cos, "在吗"), passage_scores={},
                        labels=LABELS, logits=tuple(logits))


# Weights pinned (not the shipped ones) so the arithmetic in the tests stays readable.
P = DecisionParams(oos_threshold=0.5, alpha=0.5, beta=0.1, temperature=1.5)


def test_fused_logits_add_the_retrieval_scores_to_the_classifier():
    r = result({"包裹丢失或损毁": 0.90, "发票问题": 0.80}, logits=(1, 2, 3, 4, 5), oos_cos=0.70, lexical={"发票问题": 6.0})
    z = fused_logits(r, P)
    assert z[0] == pytest.approx(1 + 0.5 * 90)  # classifier + ALPHA * rollup / 0.01
    assert z[1] == pytest.approx(2)  # no chunk of this case among the hits
    assert z[2] == pytest.approx(3 + 0.5 * 80 + 0.1 * 50)  # BM25 6 saturates to 0.5
    assert z[4] == pytest.approx(5 + 0.5 * 70)  # oos: the closest out-of-scope example


def test_the_gram_classifier_adds_its_logits_at_its_weight():
    r = result({"包裹丢失或损毁": 0.90}, logits=(1, 2, 3, 4, 5))
    with_grams = dataclasses.replace(r, gram_logits=(4.0, 0.0, -8.0, 0.0, 2.0))
    z, zg = fused_logits(r, P), fused_logits(with_grams, dataclasses.replace(P, gamma=0.25))
    assert zg - z == pytest.approx([1.0, 0.0, -2.0, 0.0, 0.5])


@pytest.mark.parametrize("oos_cos, route", [(0.9030, "case"), (0.9050, "refused")])
def test_the_refusal_boundary(oos_cos, route):
    # p(oos) = 0.5 where the oos logit equals the best case's: 0.5 * 90.4 = 45.2 on both sides
    d = decide(result({"包裹丢失或损毁": 0.904}, oos_cos=oos_cos), CASES, P)
    assert d.route == route and d.refused == (route == "refused")
    assert d.oos_probability == pytest.approx(1 / (1 + np.exp(-(oos_cos - 0.904) * 50)), abs=1e-3)
    assert d.case == (None if d.refused else "包裹丢失或损毁")
    assert d.category == "物流与配送问题"  # a refusal still names the likely category, for routing


def test_weak_evidence_is_refused_even_when_the_classifier_is_sure():
    r = result({"包裹丢失或损毁": 0.80}, logits=(20.0, 0, 0, 0, -20.0), oos_cos=0.84)
    assert evidence(r) == pytest.approx(0.9 + 0.80 - 0.84)  # closest FAQ + best case - closest oos example
    assert decide(r, CASES, DecisionParams(oos_threshold=0.5, min_evidence=0.85, alpha=0.5)).case == "包裹丢失或损毁"
    d = decide(r, CASES, DecisionParams(oos_threshold=0.5, min_evidence=0.87, alpha=0.5))
    assert d.refused and d.oos_probability < 0.5


def test_a_refusal_that_is_not_sure_offers_its_best_cases_and_a_sure_or_pre_sale_one_does_not():
    weak = result({"包裹丢失或损毁": 0.80, "冷链商品温控异常": 0.795, "发票问题": 0.70}, logits=(20.0, 19.0, 0, 0, -20.0), oos_cos=0.84)
    d = decide(weak, CASES, DecisionParams(oos_threshold=0.5, min_evidence=0.87, alpha=0.5))
    assert d.refused and d.oos_probability < 0.5  # refused for its weak evidence
    assert [c.title for c in might_be(d)] == ["包裹丢失或损毁", "冷链商品温控异常"]  # 发票问题 is far behind
    assert might_be(uncovered(d, "以旧换新和旧机回收")) == ()
    assert might_be(dataclasses.replace(d, oos_probability=0.95)) == ()
    answered = decide(weak, CASES, DecisionParams(oos_threshold=0.5, min_evidence=0.85, alpha=0.5))
    assert not answered.refused and might_be(answered) == ()  # an answer offers through `offered`


def test_a_category_only_topic_answers_at_category_level():
    d = decide(result({"cat:支付与退款问题|faq:PAY-9": 0.92, "发票问题": 0.88}), CASES, P)
    assert (d.route, d.case, d.category, d.faq) == ("category", None, "支付与退款问题", "faq:PAY-9")


def test_close_cases_are_offered_and_distant_ones_are_not():
    close = decide(result({"包裹丢失或损毁": 0.900, "冷链商品温控异常": 0.880}), CASES, P)
    assert [c.title for c in offered(close)] == ["冷链商品温控异常"]
    apart = decide(result({"包裹丢失或损毁": 0.900, "冷链商品温控异常": 0.800}), CASES, P)
    assert offered(apart) == ()


def test_confidence_is_the_tempered_probability_among_in_scope_labels():
    d = decide(result({"包裹丢失或损毁": 0.900, "冷链商品温控异常": 0.880}), CASES, P)
    z = np.array([45.0, 44.0, 0.0, 0.0]) / P.temperature
    expected = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    assert d.confidence == pytest.approx(expected[0])
    assert [c.title for c in d.cases] == ["包裹丢失或损毁", "冷链商品温控异常", "发票问题"]
    assert sum(c.score for c in d.cases) < 1  # the category label holds the rest


def test_a_bar_set_as_a_margin_reads_as_the_confidence_of_that_lead():
    d = decide(result({"包裹丢失或损毁": 0.900, "冷链商品温控异常": 0.880}), CASES, P)  # a lead of 1 logit
    assert d.confidence == pytest.approx(P.confidence_of(1.0), abs=1e-6)
    assert P.confidence_of(0.0) == 0.5
    hotter = DecisionParams(oos_threshold=0.5, temperature=3.0)
    assert 0.5 < hotter.confidence_of(1.7) < P.confidence_of(1.7)  # the same lead reads less sure


def test_choosing_a_case_keeps_the_scores_and_takes_its_own_probability():
    d = decide(result({"包裹丢失或损毁": 0.90, "冷链商品温控异常": 0.88}), CASES, P)
    picked = choose(d, "冷链商品温控异常", CASES)
    assert (picked.route, picked.case, picked.category) == ("case", "冷链商品温控异常", "物流与配送问题")
    assert picked.cases == d.cases and picked.confidence == d.cases[1].score < d.confidence
    with pytest.raises(ValueError):
        choose(d, "不存在", CASES)


def test_no_hits_is_a_refusal():
    empty = SearchResult("q", (), (), (), (), None, None, {}, LABELS, (0.0,) * 5)
    assert decide(empty, CASES, P).refused
