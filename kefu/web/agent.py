"""客服工作台: the agent's page. A question gives the case, the reply to send in the agent's
own voice, the steps for the situation the question is about (the other situations one click
away), the cited passages (a marker [n] opens its passage), related cases, and feedback."""

from __future__ import annotations

import streamlit as st

from core.types import Answer, HandlingStep
from kefu import Kefu
from kefu.web import common as ui

CONFIDENCE_HELP = ("系统对案例判断的把握：这个案例比其他候选案例领先得越多，数值越高。"
                   "它不是答复正确的概率；答复和步骤都来自右侧引用的知识库原文。")


def history_lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def ask(kefu: Kefu, question: str, case: str | None = None, history: list[str] | None = None) -> None:
    """Answer the question; `case` answers it for a case the agent picked (an alternative or a
    related case). The question itself is unchanged, so feedback records what the customer asked.
    `history` holds the customer's earlier messages; a re-ask keeps the one first given."""
    if history is None:
        history = st.session_state.get("agent_history_used", [])
    st.session_state.agent_history_used = history
    st.session_state.agent_answer = kefu.ask(question, "agent", case=case, history=history)
    st.session_state.agent_rated = False
    st.session_state.agent_gen = st.session_state.get("agent_gen", 0) + 1  # fresh widget keys per answer
    st.session_state.pop("fb_comment", None)  # a new answer starts with an empty comment


def _gen() -> int:
    return st.session_state.get("agent_gen", 0)


def open_citation(n: int, count: int) -> None:
    """A marker [n] was clicked: open passage n, fold the others so it stands out."""
    for i in range(1, count + 1):
        st.session_state[f"cite_{_gen()}_{i}"] = i == n


def marker_buttons(a: Answer, cites: tuple[int, ...], where: str) -> None:
    for n in cites:
        st.button(f"\\[{n}\\]", key=f"mk_{_gen()}_{where}_{n}", type="tertiary", help=f"打开引用 {n}",
                  on_click=open_citation, args=(n, len(a.citations)))


def case_card(kefu: Kefu, a: Answer) -> None:
    with st.container(border=True):
        left, right = st.columns([4, 1])
        with left:
            st.caption(f"案例 · {ui.md(a.case.category)}")
            st.subheader(ui.md(a.case.title or "类别级问题（无具体案例）"), anchor=False)
            if a.summary:
                st.caption(ui.md(a.summary))
        right.metric("置信度", f"{a.confidence:.0%}", help=CONFIDENCE_HELP)
        maybe(kefu, a)


def maybe(kefu: Kefu, a: Answer) -> None:
    """The other cases offered: beside a case that is not sure, or a refusal that is not."""
    offered = [alt for alt in a.alternatives if alt.title]
    if offered:
        st.markdown("**也可能是…**")
        with st.container(horizontal=True):
            for alt in offered:
                st.button(ui.md(f"{alt.title}（{alt.category}）"), key=f"alt_{alt.title}",
                          on_click=ask, args=(kefu, a.query, alt.title))


def other_issues(kefu: Kefu, a: Answer) -> None:
    """The message's other issues: each with its case, a short answer and a way to open it."""
    if not a.also:
        return
    with st.container(border=True):
        st.markdown("**客户还提到**")
        for i, o in enumerate(a.also):
            # No title: a category-level topic, or one the KB does not cover; no case to open.
            where = (f"**{ui.md(o.case.title)}**（{ui.md(o.case.category)}）" if o.case.title else
                     f"**{ui.md(o.case.category)}（类别级问题）**" if o.case.category else "**知识库未收录**")
            st.markdown(f"「{ui.md(o.text)}」→ {where}")
            st.caption(ui.md(o.answer) + (f"（{ui.MSG_SAMPLE}）" if o.sample else ""))
            if o.case.title:
                st.button(f"按「{o.case.title}」处理", key=f"also_{_gen()}_{i}", on_click=ask, args=(kefu, a.query, o.case.title))


def _situation(a: Answer) -> int:
    """The situation shown: the one the question is about, unless the agent picked another."""
    if not a.situations:
        return -1
    picked = st.session_state.get(f"sit_{_gen()}")
    return picked if picked is not None else a.situation


def reply_box(a: Answer, shown: int) -> None:
    st.markdown("#### 回复客户")
    if shown >= 0:
        s = a.situations[shown]
        text, cites, sample = s.reply, s.reply_cites, s.sample
    else:  # no playbook situation (a category-level FAQ): the approved answer itself
        text, cites, sample = a.answer, tuple(c.n for c in a.citations if c.passage == f"faq:{a.faq_id}"), a.sample
    if sample:
        st.caption(f":material/info: {ui.MSG_SAMPLE}")
    st.code(text, language=None, wrap_lines=True)
    if cites:
        with st.container(horizontal=True, vertical_alignment="center", gap="small"):
            st.caption("依据", width="content")
            marker_buttons(a, cites, "reply")


def step_rows(a: Answer, steps: tuple[HandlingStep, ...], start: int, where: str) -> None:
    for n, s in enumerate(steps, start=start):
        text, marks = st.columns([11, 2], vertical_alignment="center")
        text.markdown(f"{n}\\. **{ui.KIND_LABEL.get(s.kind, s.kind)}**　{ui.md(s.text)}")
        with marks, st.container(horizontal=True, gap=None):
            marker_buttons(a, s.cites, f"{where}{n}")


def handling_path(a: Answer, shown: int) -> None:
    st.markdown("#### 处理路径")
    if shown >= 0:
        if len(a.situations) > 1:
            st.pills("情形", list(range(len(a.situations))), key=f"sit_{_gen()}", default=a.situation, required=True,
                     format_func=lambda i: a.situations[i].when, label_visibility="collapsed", wrap=True)
        s = a.situations[shown]
        if shown == a.situation and s.matched:
            st.caption(f"按问题中的{''.join(f'「{ui.md(w)}」' for w in s.matched)}选中这个情形；其他情形点上方切换")
        elif shown == a.situation and len(a.situations) > 1:
            st.caption("与问题最接近的情形；其他情形点上方切换")
        elif shown != a.situation:
            st.caption(f"按问题判断的情形是「{ui.md(a.situations[a.situation].when)}」，当前显示的是您选择的情形")
        steps = (*s.verify, *s.steps)
    else:
        steps = tuple(x for x in a.handling_path if x.kind != "escalate")
    escalation = tuple(x for x in a.handling_path if x.kind == "escalate")
    step_rows(a, steps, 1, "s")
    if escalation:
        step_rows(a, escalation, len(steps) + 1, "e")


def citations(a: Answer) -> None:
    st.markdown("#### 引用")
    st.caption("点击步骤后的 \\[n\\] 打开对应的知识库原文")
    for c in a.citations:
        first_line = c.text.strip().splitlines()[0] if c.text.strip() else c.section
        label = first_line if len(first_line) <= 36 else first_line[:36] + "…"
        sample = "（示例内容）" if c.sample else ""
        with st.expander(f"\\[{c.n}\\] {ui.md(label)}{sample}", expanded=c.n == 1, key=f"cite_{_gen()}_{c.n}", on_change="rerun"):
            st.caption(f"来源 {ui.md(c.source)} · 章节 {ui.md(c.section)} · 知识库版本 {ui.md(c.kb_version)}")
            if c.sample:
                st.caption(f":material/info: {ui.MSG_SAMPLE}")
            st.markdown(ui.highlight(c.text, a.terms))


def related(kefu: Kefu, a: Answer) -> None:
    if not a.related:
        return
    with st.container(horizontal=True, vertical_alignment="center"):
        st.markdown("**相关案例**")
        for title in a.related:
            st.button(ui.md(title), key=f"rel_{_gen()}_{title}", on_click=ask, args=(kefu, a.query, title),
                      help="按这个案例回答同一个问题")


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
    with st.container(horizontal=True):
        st.button("有用", icon=":material/thumb_up:", key="fb_up", on_click=_rate, args=(kefu, a, "up"))
        st.button("没用", icon=":material/thumb_down:", key="fb_down", on_click=_rate, args=(kefu, a, "down"))


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
            maybe(kefu, a)
        else:
            case_card(kefu, a)
            other_issues(kefu, a)
        if a.escalate:
            team = f"（{a.team}）" if a.team else ""
            st.error(f"**需转人工{ui.md(team)}**：{ui.md(a.escalate_reason)}", icon=":material/support_agent:")
        if a.case is None and a.have_ready:
            st.markdown("请用户准备：" + "、".join(ui.md(x) for x in a.have_ready))
        if a.case is not None:
            shown = _situation(a)
            reply_box(a, shown)
            if a.handling_path or shown >= 0:
                handling_path(a, shown)
        if a.internal_notes:
            st.markdown("#### 内部备注（仅客服可见）")
            st.markdown("\n".join(f"- {ui.md(n)}" for n in a.internal_notes))
        related(kefu, a)
        feedback_box(kefu, a)
        ui.footer(a)
    with side:
        if a.citations:
            citations(a)


def main() -> None:
    settings = ui.settings_or_stop()
    st.title("客服工作台")
    kefu = ui.ready_kefu(settings)
    with st.form("agent_form", border=False):
        question = st.text_area("客户问题", key="agent_q", height=90,
                                placeholder="粘贴或输入客户的问题，例如：物流显示签收了但我没收到")
        with st.expander("此前的对话（可选）"):
            earlier = st.text_area("客户此前的消息，每行一条，按时间先后", key="agent_history", height=80,
                                   placeholder="例如：\n杯子收到就是裂开的\n（再在上面填客户最新的一句：那运费谁出）")
        submitted = st.form_submit_button("查询", type="primary", key="agent_submit")
    if submitted:
        ask(kefu, question, history=history_lines(earlier))
    ui.warn_if_stale(kefu)
    answer = st.session_state.get("agent_answer")
    if answer is not None:
        render_answer(kefu, answer)


if __name__ == "__main__":
    main()
