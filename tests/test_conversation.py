"""Real-message handling on the tiny KB with the deterministic embedder: chat-system noise,
follow-ups read with the conversation, new topics on their own, and several issues at once."""

import json
import subprocess
import sys

import pytest

from answer import messages as m
from ingest.pipeline import run_ingest
from kefu import Kefu

LOST = "包裹丢失或损毁"
COLD = "冷链商品温控异常"


@pytest.fixture
def kefu(settings, tiny_kb):
    s = settings.with_(kb_dir=tiny_kb)
    run_ingest(s)
    return Kefu(s)


def test_an_elliptic_follow_up_is_read_with_the_conversation(kefu):
    assert kefu.ask("那我现在怎么弄").notice == m.NOTICE_VAGUE  # nothing to lean on: asks what it is about
    assert kefu.ask("那我现在怎么弄", history=["快递显示签收了但我没收到"]).case.title == LOST
    assert kefu.ask("那我现在怎么弄", history=["冷冻食品到货时已经化了"]).case.title == COLD
    followed = kefu.ask("那我现在怎么弄", history=["在吗", "快递显示签收了但我没收到"])
    assert followed.query == "那我现在怎么弄" and followed.case.title == LOST  # the answer names the question itself
    # "另一个呢" asks about the other of the things just named, not a new topic.
    assert kefu.ask("另一个呢", history=["冷冻食品到货时已经化了"]).case.title == COLD


def test_details_added_after_the_question_do_not_crowd_it_out_of_the_context(kefu):
    history = ["冷冻食品到货时已经化了", "不知道怎么回事", "没放多久"]
    assert kefu.ask("那我现在怎么弄", history=history).case.title == COLD


def test_a_new_topic_is_answered_as_itself(kefu):
    a = kefu.ask("另外 订单还没发货可以取消吗", history=["快递显示签收了但我没收到"])
    assert a.case.title == "修改或取消订单"
    b = kefu.ask("冷冻食品到货时已经化了怎么办", history=["快递显示签收了但我没收到"])
    assert b.case.title == COLD


def test_a_second_issue_in_one_message_is_named_with_its_case_and_answer(kefu):
    a = kefu.ask("快递显示签收了但我没收到，另外冷冻食品到货时已经化了")
    assert a.case.title == LOST
    assert [(o.case.title, o.text) for o in a.also] == [(COLD, "冷冻食品到货时已经化了")]
    assert "拍照留存" in a.also[0].answer  # the other case's approved FAQ answer
    assert a.to_json()["also"] == [{"text": "冷冻食品到货时已经化了", "case": {"category": "物流与配送问题", "title": COLD},
                                    "answer": a.also[0].answer, "sample": False}]
    assert kefu.ask("快递显示签收了但我没收到").also == ()


def add_faq(kefu, tiny_kb, id: str, question: str, variants: str, answer: str, case: str = "", sample: bool = False) -> None:
    """One more FAQ (category 订单相关问题) in the tiny KB, ingested."""
    faqs = tiny_kb / "faqs" / "faq.yaml"
    faqs.write_text(faqs.read_text(encoding="utf-8") + f"""- id: {id}
  question: {question}
  variants: [{variants}]
  answer: {answer}
  case: {case}
  category: 订单相关问题
  effective_date: 2026-01-01
  source: 服务范围文档 一.1
  sample: {str(sample).lower()}
""", encoding="utf-8")
    kefu.ingest()


def test_a_category_level_topic_as_another_issue_is_named_by_its_category(kefu, tiny_kb):
    add_faq(kefu, tiny_kb, "T-009", "买完东西降价了，可以申请价格保护吗？", "降价了能保价吗, 我要保价, 买完就降价了",
            "支持价格保护的商品，在价保期内降价的，可以在价格保护页面申请退还差价。", sample=True)
    a = kefu.ask("快递显示签收了但我没收到，另外我要保价")
    assert a.case.title == LOST
    assert [(o.text, o.case.title, o.case.category) for o in a.also] == [("我要保价", None, "订单相关问题")]
    assert a.also[0].answer.startswith("支持价格保护的商品")  # the topic's approved FAQ answer
    assert a.also[0].sample and a.to_json()["also"][0]["sample"] is True  # marked, as a main answer is


def test_a_customer_asking_for_a_refund_is_not_told_how_to_cancel_one(kefu, tiny_kb):
    add_faq(kefu, tiny_kb, "T-010", "退款申请点错了，不想退了，能撤销吗？", "退款不想退了, 退款申请撤回, 刚点了退款 后悔了",
            "退款申请在处理前一般可以在退款详情中撤销。", case="修改或取消订单")
    a = kefu.ask("我想退款")
    assert a.case.title == "修改或取消订单" and a.faq_id == "T-001"  # e5 reads "不想退了" as "想退"
    assert kefu.ask("退款不想退了 能撤回吗").faq_id == "T-010"


@pytest.mark.parametrize("message, notice, answer, escalate", [
    ("在吗", m.NOTICE_GREETING, m.MSG_GREETING, False),
    ("您好 您好", m.NOTICE_GREETING, m.MSG_GREETING, False),
    ("订单号：[订单编号] 金额：[金额x]", m.NOTICE_ORDER_ONLY, m.MSG_ORDER_ONLY, False),
    ("https://item.jd.com/67890.html", m.NOTICE_LINK_ONLY, m.MSG_LINK_ONLY, False),
    ("你好，我想问一下", m.NOTICE_GREETING, m.MSG_GREETING, False),
    ("转人工", m.NOTICE_WANTS_HUMAN, m.MSG_WANTS_HUMAN, True),
    # Everyday chat turns: thanks is not a question the KB fails to cover, and no handover.
    ("好的，谢谢！", m.NOTICE_THANKS, m.MSG_THANKS, False),
    ("没有了 再见", m.NOTICE_THANKS, m.MSG_THANKS, False),
    ("嗯嗯 稍等一下", m.NOTICE_ACK, m.MSG_ACK, False),
    ("好呀我去看看", m.NOTICE_ACK, m.MSG_ACK, False),
    ("不是的", m.NOTICE_CORRECTION, m.MSG_CORRECTION, False),
    ("人呢", m.NOTICE_GREETING, m.MSG_GREETING, False),
])
def test_a_message_of_chat_noise_only_asks_for_the_question(kefu, message, notice, answer, escalate):
    a = kefu.ask(message)
    assert (a.case, a.notice, a.answer, a.escalate) == (None, notice, answer, escalate)
    assert a.citations == () and a.decision is None


def test_noise_around_a_question_is_cut_but_a_wish_for_a_human_is_kept(kefu):
    noisy = kefu.ask("在吗 订单号：[订单编号] 冻肉化了😡😡 冻肉化了")
    assert noisy.case.title == COLD and noisy.query.startswith("在吗")
    human = kefu.ask("人工服务 冻肉化了")
    assert human.case.title == COLD and human.escalate and human.escalate_reason == m.REASON_WANTS_HUMAN


def test_batch_lines_may_carry_the_conversation(settings, tiny_kb):
    run_ingest(settings.with_(kb_dir=tiny_kb))
    lines = ["那我现在怎么弄", json.dumps({"question": "那我现在怎么弄", "history": ["快递显示签收了但我没收到"]}, ensure_ascii=False),
             "{不是 JSON 的问题"]
    out = subprocess.run([sys.executable, "-m", "kefu.cli", "ask", "--json"], input="\n".join(lines) + "\n",
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["query"] for r in rows] == ["那我现在怎么弄", "那我现在怎么弄", "{不是 JSON 的问题"]
    assert rows[1]["case"]["title"] == LOST and rows[0]["case"] is None and rows[0]["notice"] == m.NOTICE_VAGUE


@pytest.mark.parametrize("text, alone, in_context, follows", [
    ("运费谁出", 0.9, 0.91, True),  # elliptic: leans on the conversation whenever it is in scope with it
    ("已经过了7天了 还行吗", 0.80, 0.89, True),  # short, and the conversation helps
    ("已经过了7天了 还行吗", 0.89, 0.80, False),  # short, but the conversation does not help
    ("我的白条账单这个月还不上了，想问一下可以申请延期还款吗，会不会影响我的信用记录", 0.80, 0.89, False),  # a full question, only a little surer
    ("我的白条账单这个月还不上了，想问一下可以申请延期还款吗，会不会影响我的信用记录", 0.30, 0.40, True),  # unsure alone
    ("我的白条账单这个月还不上了，想问一下可以申请延期还款吗，会不会影响我的信用记录", 0.60, 0.85, True),  # much surer with it
])
def test_when_a_message_is_read_with_the_conversation(text, alone, in_context, follows):
    from answer.respond import Assistant
    from core.types import Decision

    def d(confidence):
        return Decision("case", LOST, "物流与配送问题", None, 0.1, 0.5, None, None, (), confidence)

    assert Assistant._follows_on(text, d(alone), d(in_context)) is follows


def test_another_issue_is_named_by_its_own_clause_not_the_whole_message(kefu):
    # The whole message leans to the cold-chain case; the first clause alone is the lost parcel.
    message = "快递显示签收了但我没收到，另外冷冻食品到货时已经化了，冷冻食品化了，冷冻肉化了"
    a = kefu.ask(message)
    assert a.case.title == LOST
    assert [(o.case.title, o.text) for o in a.also] == [(COLD, "冷冻食品到货时已经化了，冷冻食品化了，冷冻肉化了")]


def test_a_bare_follow_up_with_no_conversation_asks_what_it_is_about(kefu):
    alone = kefu.ask("那怎么办")
    assert (alone.case, alone.notice, alone.answer, alone.escalate) == (None, m.NOTICE_VAGUE, m.MSG_VAGUE, False)
    assert kefu.ask("那怎么办", history=["快递显示签收了但我没收到"]).case.title == LOST
    human = kefu.ask("转人工 那怎么办")  # a wish for a human is still a handover
    assert human.notice != m.NOTICE_VAGUE and human.escalate


def test_a_greeting_or_menu_click_after_a_question_is_not_a_second_welcome(kefu):
    assert kefu.ask("人呢").answer == m.MSG_GREETING
    for noise in ("人呢", "发票类咨询", "京东快递(移动端)"):
        a = kefu.ask(noise, history=["快递显示签收了但我没收到"])
        assert (a.answer, a.case) == (m.MSG_GREETING_AGAIN, None)
    # "??" or "嗯?" after an answer: it did not land; alone, "??" still holds no text.
    for puzzled in ("??", "嗯?", "啥？", "……"):
        assert kefu.ask(puzzled, history=["快递显示签收了但我没收到"]).answer == m.MSG_PUZZLED
    assert kefu.ask("??").answer == m.MSG_NO_TEXT
    # A service-order number after a question answers "which one?", as an order card does.
    assert kefu.ask("售后服务单号:[数字x]", history=["退货单还没处理"]).answer == m.MSG_ORDER_AFTER_QUESTION
    # So does a bare number; without a question before it, it is only a greeting's worth.
    assert kefu.ask("[数字x]", history=["退货单还没处理"]).answer == m.MSG_NUMBER_AFTER_QUESTION
    assert kefu.ask("[数字x]").answer == m.MSG_GREETING


def test_an_order_card_after_a_question_says_a_person_looks_the_order_up(kefu):
    a = kefu.ask("子订单：[订单编号]", history=["快递显示签收了但我没收到"])
    assert (a.notice, a.answer, a.case) == (m.NOTICE_ORDER_ONLY, m.MSG_ORDER_AFTER_QUESTION, None)
    assert kefu.ask("子订单：[订单编号]", history=["在吗"]).answer == m.MSG_ORDER_ONLY  # no question yet: ask for it


def test_a_pre_sale_question_is_refused_with_its_own_reason_and_an_order_keeps_it_in_scope(kefu):
    a = kefu.ask("这个冰箱支持送货上门吗 有现货吗")  # 送货 is a delivery matter: in scope
    assert not (a.decision and a.decision.uncovered)
    b = kefu.ask("这款冰箱有现货吗")
    assert b.case is None and b.decision.uncovered == m.PRESALE_TOPIC and b.escalate
    assert b.answer.startswith(m.MSG_UNCOVERED.format(topic=m.PRESALE_TOPIC))
    assert b.escalate_reason == m.REASON_UNCOVERED.format(topic=m.PRESALE_TOPIC)
    c = kefu.ask("订单号：[订单编号] 这款冰箱有现货吗")  # an order card: a question about that order
    assert not c.decision.uncovered
    # Not read with the parcel talked of before: it is about a product.
    d = kefu.ask("这款冰箱有现货吗", history=["快递显示签收了但我没收到"])
    assert d.case is None and d.decision.uncovered == m.PRESALE_TOPIC
    # A short follow-up to a pre-sale question is still one; a question about an order is not.
    e = kefu.ask("多久能到呢", history=["这款冰箱有现货吗"])
    assert e.case is None and e.decision.uncovered == m.PRESALE_TOPIC
    assert kefu.ask("多久能到呢").decision.uncovered == ""
    assert kefu.ask("快递显示签收了但我没收到", history=["这款冰箱有现货吗"]).case.title == LOST
    # A pre-sale clause beside an after-sales one: the latter is answered, the former listed.
    f = kefu.ask("这款冰箱有现货吗 另外快递显示签收了但我没收到")
    assert f.case.title == LOST and [(o.text, o.case.title) for o in f.also] == [("这款冰箱有现货吗", None)]


def test_a_topic_the_kb_declares_uncovered_is_refused_by_name_even_with_an_order(kefu, tiny_kb):
    assert kefu.ask("旧手机回收的订单查不到了").decision.uncovered == ""
    (tiny_kb / "dict" / "uncovered.txt").write_text("# 不收录的主题\n以旧换新和旧机回收 以旧换新、回收\n", encoding="utf-8")
    kefu.ingest()
    a = kefu.ask("订单号：[订单编号] 旧手机回收的订单查不到了")  # a recycling order: no case handles it
    assert a.case is None and a.decision.uncovered == "以旧换新和旧机回收" and a.escalate and a.alternatives == ()
    assert a.answer.startswith(m.MSG_UNCOVERED.format(topic="以旧换新和旧机回收"))
    assert kefu.hit_test("旧手机回收的订单查不到了").verdict.startswith("拒答：以旧换新和旧机回收，知识库不收录")
    assert kefu.ask("回收的快递在哪", history=["快递显示签收了但我没收到"]).case is None  # not read with the parcel
    assert kefu.ask("那怎么弄", history=["旧空调回收"]).decision.uncovered == "以旧换新和旧机回收"  # leans on it
    # So does a longer one that names nothing of an order or an after-sales matter of its own.
    longer = kefu.ask("价格是按原价算还是按优惠价算的呢", history=["旧空调回收"])
    assert longer.decision.uncovered == "以旧换新和旧机回收"
    assert kefu.ask("快递显示签收了但我没收到").case.title == LOST
    # Only the clause that names it: the other issue of the message is still answered, whichever
    # comes first, and the uncovered one is listed with what the KB can say of it.
    for message in ("快递显示签收了但我没收到 另外旧机回收怎么弄", "旧机回收怎么弄 另外快递显示签收了但我没收到"):
        both = kefu.ask(message)
        assert both.case.title == LOST
        assert [(o.text, o.case.title, o.answer) for o in both.also] == [
            ("旧机回收怎么弄", None, m.MSG_UNCOVERED.format(topic="以旧换新和旧机回收") + m.MSG_UNCOVERED_ALSO)]
        assert both.to_json()["also"][0]["case"] == {"category": "", "title": None}
