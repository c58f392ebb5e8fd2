"""The decision on hand-built search results: the refusal boundary, the FAQ shortcut, a
category-only FAQ, close cases, and the confidence. No model, no index."""

import pytest

from answer.decide import DecisionParams, alternative, choose, confidence, decide, evidence
from core.kb import FAQ
from core.types import CaseScore, Chunk, Hit, Match
from retrieval.search import CategoryScore, SearchResult

CASES = {"包裹丢失或损毁": "物流与配送问题", "冷链商品温控异常": "物流与配送问题", "发票问题": "订单相关问题"}
PARAMS = DecisionParams(oos_threshold=0.92, faq_threshold=0.95)


def faq(fid: str, case: str | None, category: str) -> FAQ:
    return FAQ(fid, "问", (), "答", case, category, "2026-01-01", "来源", False, "faqs/x.yaml", 1)


FAQS = {f.passage: f for f in (faq("LOG-1", "包裹丢失或损毁", "物流与配送问题"), faq("PAY-9", None, "支付与退款问题"))}


def chunk(passage: str, case: str | None, category: str, kind: str = "scope") -> Chunk:
    return Chunk(passage, passage, passage, kind, "x.md", "节", "正文", case, category)


def result(cases: dict[str, float], faq_cos: float = 0.88, oos_cos: float = 0.85, faq_passage: str = "faq:LOG-1",
           top: Chunk | None = None) -> SearchResult:
    ranked = sorted(cases.items(), key=lambda kv: -kv[1])
    hits = [Hit(top, 1.0)] if top else []
    hits += [Hit(chunk(f"scope:{i}", c, CASES[c]), s, s, 0.0, i) for i, (c, s) in enumerate(ranked, start=1)]
    return SearchResult(
        query="q", tokens=("q",), hits=tuple(hits), cases=tuple(CaseScore(c, s) for c, s in ranked),
        categories=(CategoryScore("物流与配送问题", ranked[0][1] if ranked else 0.0),),
        faq=Match(faq_passage, faq_cos, "问"), oos=Match("oos", oos_cos, "在吗"), passage_scores={},
    )


def test_evidence_contrasts_the_kb_with_the_out_of_scope_examples():
    assert evidence(result({"包裹丢失或损毁": 0.90}, faq_cos=0.86, oos_cos=0.84)) == pytest.approx(0.92)


@pytest.mark.parametrize("faq_cos, route", [(0.8649, "refused"), (0.8651, "case")])
def test_the_refusal_boundary(faq_cos, route):
    # evidence = faq + case - oos = faq_cos + 0.90 - 0.845, against 0.92
    d = decide(result({"包裹丢失或损毁": 0.90}, faq_cos=faq_cos, oos_cos=0.845), FAQS, CASES, PARAMS)
    assert d.route == route and d.refused == (route == "refused")
    assert (d.case, d.category) == ((None, None) if d.refused else ("包裹丢失或损毁", "物流与配送问题"))


def test_a_close_faq_phrasing_answers_with_that_faq_even_when_another_case_scores_higher():
    r = result({"冷链商品温控异常": 0.93, "包裹丢失或损毁": 0.90}, faq_cos=0.96)
    d = decide(r, FAQS, CASES, PARAMS)
    assert (d.route, d.faq, d.case, d.category) == ("faq", "faq:LOG-1", "包裹丢失或损毁", "物流与配送问题")
    below = decide(result({"冷链商品温控异常": 0.93, "包裹丢失或损毁": 0.90}, faq_cos=0.949), FAQS, CASES, PARAMS)
    assert (below.route, below.case, below.faq) == ("case", "冷链商品温控异常", None)


def test_a_category_only_faq_on_top_answers_at_category_level():
    top = chunk("faq:PAY-9", None, "支付与退款问题", kind="faq")
    d = decide(result({"包裹丢失或损毁": 0.90}, faq_cos=0.90, top=top), FAQS, CASES, PARAMS)
    assert (d.route, d.case, d.category, d.faq) == ("category", None, "支付与退款问题", "faq:PAY-9")
    faq_route = decide(result({"包裹丢失或损毁": 0.90}, faq_cos=0.97, faq_passage="faq:PAY-9"), FAQS, CASES, PARAMS)
    assert (faq_route.route, faq_route.case, faq_route.category) == ("faq", None, "支付与退款问题")


def test_two_close_cases_offer_the_runner_up():
    close = decide(result({"包裹丢失或损毁": 0.900, "冷链商品温控异常": 0.889}), FAQS, CASES, PARAMS)
    assert alternative(close) == CaseScore("冷链商品温控异常", 0.889)
    apart = decide(result({"包裹丢失或损毁": 0.900, "冷链商品温控异常": 0.887}), FAQS, CASES, PARAMS)
    assert alternative(apart) is None


def test_confidence_is_a_softmax_share_of_the_top_cases():
    cases = (CaseScore("包裹丢失或损毁", 0.90), CaseScore("冷链商品温控异常", 0.90), CaseScore("发票问题", 0.80))
    assert confidence(cases, "包裹丢失或损毁") == pytest.approx(0.5, abs=1e-6)
    assert confidence(cases, "发票问题") < 1e-6
    assert confidence(cases, None) == 0.0 and confidence((), "发票问题") == 0.0
    assert confidence(cases[:1], "包裹丢失或损毁") == 1.0


def test_choosing_a_case_keeps_the_scores_and_refuses_an_unknown_case():
    d = decide(result({"包裹丢失或损毁": 0.90, "冷链商品温控异常": 0.88}), FAQS, CASES, PARAMS)
    picked = choose(d, "冷链商品温控异常", CASES)
    assert (picked.route, picked.case, picked.category) == ("case", "冷链商品温控异常", "物流与配送问题")
    assert picked.cases == d.cases and picked.evidence == d.evidence
    with pytest.raises(ValueError):
        choose(d, "不存在", CASES)
