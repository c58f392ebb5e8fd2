"""客服工作台: the agent's page. A question gives the case, the handling path with citation
markers, the cited passages with the matched words in bold, a reply to copy, and feedback."""

from __future__ import annotations

import streamlit as st

from core.types import Answer
from kefu import Kefu
from kefu.web import common as ui


def ask(kefu: Kefu, question: str, case: str | None = None) -> None:
    """Answer the question; `case` answers it for an alternative the agent picked (the
    question itself is unchanged, so feedback records what the customer asked)."""
    st.session_state.agent_answer = kefu.ask(question, "agent", case=case)
    st.session_state.agent_rated = False
    st.session_state.pop("fb_comment", None)  # a new answer starts with an empty comment


def case_card(kefu: Kefu, a: Answer) -> None:
    with st.container(border=True):
        left, right = st.columns([4, 1])
        with left:
            st.caption(f"案例 · {ui.md(a.case.category)}")
            st.subheader(ui.md(a.case.title or "类别级问题（无具体案例）"), anchor=False)
        right.metric("置信度", f"{a.confidence:.0%}")
        if a.alternatives:
            st.markdown("**也可能是…**")
            cols = st.columns(len(a.alternatives))
            for col, alt in zip(cols, a.alternatives):
                col.button(ui.md(f"{alt.title}（{alt.category}）"), key=f"alt_{alt.title}",
                           on_click=ask, args=(kefu, a.query, alt.title))


def handling_path(a: Answer) -> None:
    st.markdown("#### 处理路径")
    lines = [f"{n}. **{ui.KIND_LABEL.get(s.kind, s.kind)}**　{ui.md(s.text)} {ui.markers(s.cites)}"
             for n, s in enumerate(a.handling_path, start=1)]
    st.markdown("\n".join(lines))


def citations(a: Answer, terms: list[str]) -> None:
    st.markdown("#### 引用")
    for c in a.citations:
        first_line = c.text.strip().splitlines()[0] if c.text.strip() else c.section
        label = first_line if len(first_line) <= 40 else first_line[:40] + "…"
        with st.expander(f"\\[{c.n}\\] {ui.md(label)}", expanded=c.n == 1):
            st.caption(f"来源 {ui.md(c.source)} · 章节 {ui.md(c.section)} · 知识库版本 {ui.md(c.kb_version)}"
                       f" · 检索得分 {c.score:.3f}")
            st.markdown(ui.highlight(c.text, terms))


def _rate(kefu: Kefu, a: Answer, rating: str) -> None:
    kefu.feedback(role="agent", question=a.query, case=a.case.title if a.case else None,
                    kb_version=a.kb_version, rating=rating, comment=st.session_state.get("fb_comment", ""))
    st.session_state.agent_rated = True


def feedback_box(kefu: Kefu, a: Answer) -> None:
    st.markdown("#### 这个答复有用吗？")
    if st.session_state.get("agent_rated"):
        st.success("已记录反馈，谢谢！")
        return
    st.text_input("补充说明（可选）", key="fb_comment", placeholder="例如：案例判断错了，应为…")
    up, down, _ = st.columns([1, 1, 4])
    up.button("有用", icon=":material/thumb_up:", key="fb_up", on_click=_rate, args=(kefu, a, "up"))
    down.button("没用", icon=":material/thumb_down:", key="fb_down", on_click=_rate, args=(kefu, a, "down"))


def render_answer(kefu: Kefu, a: Answer) -> None:
    if a.notice in ui.PLAIN_NOTICES:
        st.info(ui.md(a.answer))
        return
    if a.notice:
        st.info(ui.md(a.notice))
    main, side = st.columns([3, 2], gap="large")
    with main:
        if a.case is None:
            st.warning(ui.md(a.answer))
            for alt in a.alternatives:
                st.caption(f"可能属于：{ui.md(alt.category)}")
        else:
            case_card(kefu, a)
        if a.escalate:
            team = f"（{a.team}）" if a.team else ""
            st.error(f"**需转人工{ui.md(team)}**：{ui.md(a.escalate_reason)}", icon=":material/support_agent:")
        if a.case is not None:
            if a.summary:
                st.markdown(f"**案例说明**：{ui.md(a.summary)}")
            st.markdown("#### 回复客户")
            st.code(a.answer, language=None, wrap_lines=True)
        if a.handling_path:
            handling_path(a)
        if a.internal_notes:
            st.markdown("#### 内部备注（仅客服可见）")
            st.markdown("\n".join(f"- {ui.md(n)}" for n in a.internal_notes))
        if a.related:
            st.markdown("**相关案例**：" + "、".join(ui.md(r) for r in a.related))
        feedback_box(kefu, a)
        ui.footer(a)
    with side:
        if a.citations:
            citations(a, a.terms)


def main() -> None:
    settings = ui.settings_or_stop()
    st.title("客服工作台")
    kefu = ui.ready_kefu(settings)
    with st.form("agent_form", border=False):
        question = st.text_area("客户问题", key="agent_q", height=90,
                                placeholder="粘贴或输入客户的问题，例如：物流显示签收了但我没收到")
        submitted = st.form_submit_button("查询", type="primary", key="agent_submit")
    if submitted:
        ask(kefu, question)
    ui.warn_if_stale(kefu)
    answer = st.session_state.get("agent_answer")
    if answer is not None:
        render_answer(kefu, answer)


if __name__ == "__main__":
    main()
