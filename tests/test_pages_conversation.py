"""The agent desk and the customer chat read a message with the conversation and list its
other issues, driven by AppTest with the real model on the shipped KB."""

from __future__ import annotations

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from kefu import Kefu
from tests.test_app import REPO, app, customer, ok, plain, say, texts

pytestmark = pytest.mark.model


@pytest.fixture(autouse=True)
def real_home(real_index, monkeypatch):
    st.cache_resource.clear()
    monkeypatch.setenv("KEFU_HOME", str(real_index.home))
    monkeypatch.setenv("KEFU_KB", str(REPO / "kb"))
    monkeypatch.setenv("KEFU_EMBEDDING_MODEL", real_index.embedding_model)
    for var in ("KEFU_OOS_THRESHOLD", "KEFU_MIN_EVIDENCE"):
        monkeypatch.delenv(var, raising=False)
    yield
    st.cache_resource.clear()


def agent(at: AppTest, question: str, earlier: str = "") -> AppTest:
    at.text_area(key="agent_q").input(question)
    at.text_area(key="agent_history").input(earlier)
    at.button(key="agent_submit").click().run()
    return ok(at)


def test_the_agent_desk_reads_a_follow_up_with_the_earlier_messages():
    at = agent(ok(app().run()), "能退吗")
    assert [h.value for h in at.subheader] == ["退换货申请协助"]
    at = agent(at, "能退吗", "冷冻水饺送到的时候化了")
    assert [h.value for h in at.subheader] == ["冷链商品温控异常"]
    assert at.text_area(key="agent_q").value == "能退吗"


def test_the_agent_desk_lists_the_other_issue_and_opens_it_for_the_same_message():
    question = "我想退货，另外收货地址能改吗"
    at = agent(ok(app().run()), question)
    assert [h.value for h in at.subheader] == ["退换货申请协助"]
    assert "客户还提到" in texts(at) and "配送地址修改" in plain(texts(at))
    next(b for b in at.button if b.key and b.key.startswith("also_")).click().run()
    assert [h.value for h in ok(at).subheader] == ["配送地址修改"]
    assert at.text_area(key="agent_q").value == question


def chat(*messages: str) -> AppTest:
    """The customer chat after these messages, one at a time."""
    at = customer(ok(app().run()))
    for message in messages:
        say(at, message)
    return at


def said(at: AppTest, n: int) -> str:
    """The markdown of chat message `n` (the customer's are even, the answers odd)."""
    return "\n".join(m.value for m in at.chat_message[n].markdown)


def test_the_customer_chat_reads_a_follow_up_with_the_conversation():
    second = said(chat("冷冻水饺送到的时候化了", "能退吗"), 3)
    # Read with the conversation, "能退吗" gets the cold-chain answer again: the chat points to it
    # instead of repeating it, and does not give the general seven-day return answer.
    assert "冷链商品温控异常" in second and "请参照上文" in second and "七日内可以无理由" not in second
    alone = said(chat("能退吗"), 1)
    assert "冷链商品温控异常" not in alone and "请参照上文" not in alone


def test_a_no_in_the_customer_chat_offers_the_other_cases_of_the_answer_it_turns_down():
    at = chat("快递显示签收了但我没收到", "不是")
    assert "换个说法" in said(at, 3)
    offered = [b for b in at.button if b.key and b.key.startswith("pick_1_")]
    assert offered, "a no offers the turned-down answer's other cases"
    title = offered[0].key.removeprefix("pick_1_")
    assert title != "包裹丢失或损毁"
    offered[0].click().run()
    ok(at)
    again = said(at, 3)
    # The "不是" turn now holds the earlier question's answer for the chosen case; the earlier
    # answer stays as it was.
    chosen = Kefu().ask("快递显示签收了但我没收到", "customer", history=[], case=title)
    assert chosen.case.title == title and chosen.answer[:20] in plain(again)
    assert "换个说法" not in again and plain(again) != plain(said(at, 1))


def test_a_follow_up_answered_as_before_is_not_shown_twice_and_puts_the_handover_first():
    at = chat("快递显示签收了但我没收到", "那怎么办")
    first, second = said(at, 1), said(at, 3)
    assert "包裹丢失或损毁" in second and "请参照上文" in second
    assert first not in second
    assert at.button(key="handoff").proto.type == "primary"
    at = say(at, "那我该怎么办")  # asked once more: the handover, not the same line again
    assert "知识库里能告诉您的就是上面这些了" in said(at, 5)
    at = say(at, "冷冻水饺送到的时候化了")  # a different answer is shown in full
    assert "请参照上文" not in said(at, 7) and "就是上面这些了" not in said(at, 7)


def test_a_refusal_that_is_not_sure_offers_its_likely_case_and_picking_it_answers():
    at = chat("鼠标滚轮失灵")
    assert "知识库暂未收录" in plain(texts(at))
    offered = [b for b in at.button if b.key and b.key.startswith("pick_0_")]
    assert [b.key.removeprefix("pick_0_") for b in offered] == ["维修与检测服务对接"]
    offered[0].click().run()
    ok(at)
    chosen = Kefu().ask("鼠标滚轮失灵", "customer", case="维修与检测服务对接")
    assert chosen.case.title == "维修与检测服务对接"
    assert "知识库暂未收录" not in said(at, 1) and chosen.answer[:20] in plain(said(at, 1))
