"""自助服务: the customers' chat. A plain answer, what they can do themselves, and when a
human is needed, which team takes over and what to have ready. No internal notes."""

from __future__ import annotations

import streamlit as st

from core.types import Answer
from kefu import Kefu
from kefu.web import common as ui

WELCOME = "您好，我是客服知识助手。请描述您遇到的问题，例如：“物流显示签收了但我没收到”。"


def render_answer(a: Answer) -> None:
    if a.notice in ui.PLAIN_NOTICES:
        st.markdown(ui.md(a.answer))
        return
    if a.notice:
        st.caption(ui.md(a.notice))
    if a.case is None:  # not covered by the KB: the answer itself says it goes to a human
        st.warning(ui.md(a.answer), icon=":material/support_agent:")
        return
    st.markdown(ui.md(a.answer))
    if a.self_service:
        st.markdown("**您可以先自己试试：**\n\n" + "\n".join(
            f"{n}. {ui.md(s.text)}" for n, s in enumerate(a.self_service, start=1)))
    if a.escalate:
        st.warning(f"这个问题需要人工客服处理：{ui.md(a.escalate_reason)}", icon=":material/support_agent:")
    if a.team:
        with st.container(border=True):
            lead = "**已为您转人工**：" if a.escalate else "**需要人工帮助？** 可联系人工客服，"
            st.markdown(f"{lead}由{ui.md(a.team)}为您处理。联系人工客服前，请准备好：")
            st.markdown("\n".join(f"- {ui.md(item)}" for item in a.have_ready))


def _rate(kefu: Kefu, i: int) -> None:
    value = st.session_state.get(f"cfb_{i}")
    if value is None:
        return
    question, a = st.session_state.chat[i]
    kefu.feedback(role="customer", question=question, case=a.case.title if a.case else None,
                    kb_version=a.kb_version, rating="up" if value == 1 else "down")


def show_turn(kefu: Kefu, i: int, question: str, a: Answer) -> None:
    with st.chat_message("user"):
        st.markdown(ui.md(question))
    with st.chat_message("assistant"):
        render_answer(a)
        if a.notice not in ui.PLAIN_NOTICES:
            rated = st.session_state.get(f"cfb_{i}") is not None
            st.feedback("thumbs", key=f"cfb_{i}", on_change=_rate, args=(kefu, i), disabled=rated)


def main() -> None:
    settings = ui.settings_or_stop()
    st.title("自助服务")
    kefu = ui.ready_kefu(settings)
    ui.warn_if_stale(kefu)
    chat = st.session_state.setdefault("chat", [])
    st.caption(WELCOME)
    for i, (question, a) in enumerate(chat):
        show_turn(kefu, i, question, a)
    if question := st.chat_input("请输入您的问题"):
        chat.append((question, kefu.ask(question, "customer")))
        show_turn(kefu, len(chat) - 1, question, chat[-1][1])


if __name__ == "__main__":
    main()
