"""Which playbook situation a question is about: keywords first, then the best-matching
FAQ the situation's reply cites, then the first (default) one."""

from collections import Counter

import pytest

from answer.situate import situate
from core.kb import PlaybookItem, Situation
from core.text import normalize
from ingest.validate import load_kb
from tests.conftest import REPO


def _situation(when: str, keywords: tuple[str, ...], faq: str) -> Situation:
    step = PlaybookItem("步骤。", ("scope:5.3",))
    return Situation(when, keywords, (), (step,), PlaybookItem("您好。", ("scope:5.3", faq)))


SIGNED = _situation("显示签收但没收到", ("签收", "没收到"), "faq:LOG-007")
BROKEN = _situation("外包装破损", ("破损", "破了"), "faq:LOG-008")
STALLED = _situation("物流停滞", ("没动静", "停滞"), "faq:LOG-009")
ALL = (SIGNED, BROKEN, STALLED)


def test_the_most_keywords_win_and_are_named():
    pick = situate(ALL, "快递显示签收了但是外包装破了，东西没收到", {"faq:LOG-008": 0.95, "faq:LOG-007": 0.90})
    assert (pick.index, pick.matched) == (0, ("签收", "没收到"))  # two keywords beat one, whatever the FAQ scores
    assert situate(ALL, "包裹破损了", {}).matched == ("破损",)


def test_between_equal_keywords_the_best_matching_faq_decides():
    scores = {"faq:LOG-007": 0.91, "faq:LOG-008": 0.93, "faq:LOG-009": 0.90}
    assert situate(ALL, "签收的包裹破了", scores).index == 1  # 签收 vs 破了: one each; LOG-008 scores best
    assert situate(ALL, "快递好几天都没更新", {**scores, "faq:LOG-009": 0.95}) == situate(ALL, "快递好几天都没更新", {"faq:LOG-009": 1})
    assert situate(ALL, "快递好几天都没更新", {**scores, "faq:LOG-009": 0.95}).index == 2


def test_with_nothing_to_go_on_the_first_situation_is_the_default():
    assert situate(ALL, "你好", {}).index == 0
    assert situate((), "你好", {}).index == -1
    assert situate(ALL, "SIGNED 签收", {}).index == 0  # matching is case-insensitive and deterministic


def test_each_shipped_faq_phrasing_lands_on_the_situation_whose_reply_cites_it():
    """For every FAQ that exactly one situation's reply cites, its question and variants
    (as the search would score them: that FAQ best) pick that situation: no keyword of
    another situation pulls them away."""
    kb = load_kb(REPO / "kb")
    faqs = {f.passage: f for f in kb.faqs}
    checked, wrong = 0, []
    for pb in kb.playbooks:
        owners = Counter(c for s in pb.situations for c in set(s.reply.cites) if c.startswith("faq:"))
        for i, s in enumerate(pb.situations):
            for c in (c for c in s.reply.cites if c.startswith("faq:") and owners[c] == 1):
                for q in (faqs[c].question, *faqs[c].variants):
                    checked += 1
                    pick = situate(pb.situations, normalize(q, 500), {c: 1.0})
                    if pick.index != i:
                        wrong.append((pb.case, q, pb.situations[pick.index].when, pick.matched))
    assert checked >= 350 and wrong == []


@pytest.mark.model
@pytest.mark.parametrize("query, case, situation", [
    ("物流显示签收了但我没收到", "包裹丢失或损毁", "物流显示已签收，但用户没收到"),
    ("快递到了外包装破了", "包裹丢失或损毁", "包裹外包装严重破损，或商品损坏"),
    ("快递停在中转站好多天不动，怀疑丢了", "包裹丢失或损毁", "物流长时间停滞，疑似丢失"),
    ("发货了还能取消吗", "修改或取消订单", "订单已出库，无法直接取消或修改"),
    ("退款显示已经完成了但是银行卡里没看到钱", "退款进度查询", "退款显示已完成，但没看到钱"),
    ("白条这个月还不上了", "白条还款与额度问题", "暂时还不上，想申请延期还款"),
])
def test_real_questions_get_the_situation_they_are_about(real_service, query, case, situation):
    a = real_service.ask(query)
    assert a.case.title == case and a.chosen.when == situation
    assert a.reply.startswith("您好") and len(a.chosen.verify) + len(a.chosen.steps) <= 6


def test_customers_get_only_the_self_help_that_bears_on_their_situation():
    """A parcel stuck in transit gets no tips about damaged boxes or signed-for parcels; a
    parcel signed for but missing keeps its own tips and loses the damaged-box ones."""
    from answer.compose import self_service_for

    pb = next(p for p in load_kb(REPO / "kb").playbooks if p.case == "包裹丢失或损毁")
    at = {c: i for i, s in enumerate(pb.situations) for c in s.reply.cites if c.startswith("faq:")}

    def faqs(items):
        return {c for it in items for c in it.cites if c.startswith("faq:")}

    missing = self_service_for(pb, at["faq:LOG-007"])
    assert missing and faqs(missing) == {"faq:LOG-007"}
    assert faqs(self_service_for(pb, at["faq:LOG-008"])) == {"faq:LOG-008"}
    assert self_service_for(pb, at["faq:LOG-009"]) == ()  # none of the tips is about a stuck parcel
    assert self_service_for(pb, -1) == pb.self_service  # no situation: every tip
