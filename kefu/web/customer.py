"""自助服务: the customers' chat. A plain answer and what they can do themselves; when unsure,
the other cases to choose from; and a real 转人工: the conversation goes to the team of its
case (or its likely category, or the general desk) under a reference number. No internal notes.

The chat survives a reload of the tab: it is kept in memory under a random token in the
page's URL (?c=…), and idle chats are forgotten after a few hours.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import replace

import streamlit as st

from core.types import Answer, Conversation
from kefu import Kefu
from kefu.web import common as ui

WELCOME = "您好，我是客服知识助手。请描述您遇到的问题，例如：“物流显示签收了但我没收到”。"
FOLD_CHARS = 200  # a longer message shows its start; the rest is one click away
IDLE_SECONDS = 8 * 3600
MAX_CHATS = 5000
MAX_OTHER_CASES = 3  # cases offered when the customer says an answer missed
# A follow-up answered exactly as before ("那怎么办" after the answer): the answer is not shown
# twice; the customer asking again most likely still needs help, so the handover comes first.
REPEATED = "这个问题的处理方法和上面的答复相同（{case}），请参照上文。如果照着做了还是没有解决，可以点下方的「转人工」。"
REPEATED_AGAIN = "关于「{case}」，知识库里能告诉您的就是上面这些了。您的具体情况，建议点下方的「转人工」，由人工客服为您核实。"


class ChatStore:
    """Conversations by token, in this process's memory, for the browser session."""

    def __init__(self):
        self._lock = threading.Lock()
        self._chats: dict[str, tuple[float, Conversation]] = {}

    def get(self, token: str) -> Conversation | None:
        with self._lock:
            hit = self._chats.get(token)
            if hit is None or time.monotonic() - hit[0] > IDLE_SECONDS:
                return None
            return hit[1]

    def put(self, token: str, chat: Conversation) -> None:
        with self._lock:
            self._chats[token] = (time.monotonic(), chat)
            if len(self._chats) > MAX_CHATS:  # forget the longest idle
                for old in sorted(self._chats, key=lambda t: self._chats[t][0])[: len(self._chats) - MAX_CHATS]:
                    del self._chats[old]


@st.cache_resource(show_spinner=False)
def chat_store() -> ChatStore:
    return ChatStore()


def _token() -> str:
    """This tab's chat token: kept in the session, and in the URL so a reload finds it again."""
    token = st.session_state.get("chat_token") or st.query_params.get("c") or secrets.token_urlsafe(12)
    st.session_state.chat_token = token
    if st.query_params.get("c") != token:
        st.query_params["c"] = token
    return token


def _ask(kefu: Kefu, chat: Conversation, question: str, case: str | None = None, upto: int | None = None) -> Answer:
    """The answer to `question` read with the customer's earlier messages (those before turn
    `upto` when a turn is answered again)."""
    turns = chat.turns if upto is None else chat.turns[:upto]
    return kefu.ask(question, "customer", case=case, history=[t.question for t in turns])


def pick(kefu: Kefu, token: str, i: int, case: str, asked: int | None = None) -> None:
    """The customer chose one of the offered cases: answer turn `i` again for it, with the
    question of turn `asked` (the same turn, or the one a "不是" turned down)."""
    chat = chat_store().get(token) or Conversation()
    j = i if asked is None else asked
    if i < len(chat.turns) and 0 <= j <= i:
        # The answer's own query: a turn answered again after "不是" answers an earlier question.
        question = chat.turns[j].answer.query or chat.turns[j].question
        chat_store().put(token, chat.answer_again(i, _ask(kefu, chat, question, case, upto=j)))


def _answered_before(turns, i: int):
    """The turns before turn `i` that were answered (not thanks, greetings or "不是"), newest
    first, with their index."""
    return ((j, turns[j].answer) for j in range(i - 1, -1, -1) if turns[j].answer.notice not in ui.PLAIN_NOTICES)


def turned_down(turns, i: int) -> tuple[int, list[str]]:
    """For a "不是" at turn `i`: the last answered turn before it and the other cases its answer
    held (offered, then related), to offer instead of asking to rephrase only."""
    for j, a in _answered_before(turns, i):
        if a.case is None or not a.case.title:
            return j, []
        others = [c.title for c in a.alternatives if c.title] + list(a.related)
        return j, [c for c in dict.fromkeys(others) if c != a.case.title][:MAX_OTHER_CASES]
    return -1, []


def _same(a: Answer, b: Answer) -> bool:
    return (a.case is not None and b.case is not None and a.answer == b.answer and a.also == b.also
            and (a.case.title, a.case.category) == (b.case.title, b.case.category))


def repeats(turns, i: int) -> int:
    """How many answered turns in a row before turn `i` gave its answer: the same case, the
    same words (0: a new answer)."""
    a = turns[i].answer
    if a.notice in ui.PLAIN_NOTICES:
        return 0
    n = 0
    for _, before in _answered_before(turns, i):
        if not _same(before, a):
            break
        n += 1
    return n


def hand_over(kefu: Kefu, token: str) -> None:
    chat = chat_store().get(token) or Conversation()
    h = kefu.handoff(chat)
    chat_store().put(token, replace(chat, handoff=h.ref, handoff_team=h.team))


def new_chat() -> None:
    st.session_state.chat_token = secrets.token_urlsafe(12)


def show_question(question: str) -> None:
    if len(question) <= FOLD_CHARS:
        st.markdown(ui.md(question))
        return
    st.markdown(ui.md(question[:FOLD_CHARS]) + "……")
    with st.expander(f"展开全文（共 {len(question)} 字）"):
        st.markdown(ui.md(question))


def render_answer(a: Answer, repeated: int = 0) -> None:
    """`repeated`: how many answered turns in a row before this one said the same."""
    if a.notice in ui.PLAIN_NOTICES:
        st.markdown(ui.md(a.answer))
        return
    if repeated:
        st.markdown(ui.md((REPEATED if repeated == 1 else REPEATED_AGAIN).format(case=a.case.title or a.case.category)))
        return
    if a.notice:
        st.caption(ui.md(a.notice))
    if a.case is None:  # not covered by the KB: the answer says so and names the team
        st.warning(ui.md(a.answer), icon=":material/support_agent:")
        return
    st.markdown(ui.md(a.answer))
    if a.sample:
        st.caption(f":material/info: {ui.MSG_SAMPLE}")
    for o in a.also:
        # A category-level topic is named by its category; one the KB does not cover, not at all.
        name = o.case.title or o.case.category
        named = f"（{ui.md(name)}）" if name else ""
        st.markdown(f"**您还提到「{ui.md(o.text)}」**{named}：{ui.md(o.answer)}")
        if o.sample:
            st.caption(f":material/info: {ui.MSG_SAMPLE}")
    if a.self_service:
        st.markdown("**您可以先自己试试：**\n\n" + "\n".join(
            f"{n}. {ui.md(s.text)}" for n, s in enumerate(a.self_service, start=1)))
    if a.escalate:
        st.warning(f"这个问题需要人工客服处理：{ui.md(a.escalate_reason)}", icon=":material/support_agent:")


def _rate(kefu: Kefu, token: str, i: int) -> None:
    value = st.session_state.get(f"cfb_{i}")
    chat = chat_store().get(token)
    if value is None or chat is None or i >= len(chat.turns):
        return
    t = chat.turns[i]
    kefu.feedback(role="customer", question=t.question, case=t.answer.case.title if t.answer.case else None,
                  kb_version=t.answer.kb_version, rating="up" if value == 1 else "down")


def show_turn(kefu: Kefu, token: str, turns, i: int) -> None:
    question, a = turns[i].question, turns[i].answer
    with st.chat_message("user"):
        show_question(question)
    with st.chat_message("assistant"):
        render_answer(a, repeats(turns, i))
        choices = [alt.title for alt in a.alternatives if alt.title]
        asked = i
        if a.notice == ui.NOTICE_CORRECTION:
            asked, choices = turned_down(turns, i)
        if choices:
            with st.container(horizontal=True, vertical_alignment="center"):
                st.caption("您是想问：", width="content")
                for title in choices:
                    st.button(ui.md(f"{title}？"), key=f"pick_{i}_{title}", on_click=pick, args=(kefu, token, i, title, asked))
        if a.notice not in ui.PLAIN_NOTICES:
            rated = st.session_state.get(f"cfb_{i}") is not None
            st.feedback("thumbs", key=f"cfb_{i}", on_change=_rate, args=(kefu, token, i), disabled=rated)


def handoff_box(kefu: Kefu, token: str, chat: Conversation) -> None:
    """Who takes over and what to have ready; the 转人工 button; once pressed, the reference number."""
    answered = [t.answer for t in chat.turns if t.answer.notice not in ui.PLAIN_NOTICES]
    # A bare "转人工" holds no question but is the clearest call for the button; the team stays
    # the one of the question asked, if any.
    asked_human = [t.answer for t in chat.turns if t.answer.notice == ui.NOTICE_WANTS_HUMAN]
    shown = answered or asked_human
    if not shown:
        return
    with st.container(border=True):
        if chat.handoff:
            st.success(f"已为您转接人工客服（{ui.md(chat.handoff_team)}），转人工单号：**{ui.md(chat.handoff)}**。"
                       "联系人工客服时请提供这个单号。", icon=":material/support_agent:")
            return
        last = next((a for a in reversed(shown) if a.team), shown[-1])
        team = last.team or "人工客服"
        again = repeats(chat.turns, len(chat.turns) - 1) > 0
        lead = ("点下方的「转人工」即可转接。" if chat.turns[-1].answer.notice == ui.NOTICE_WANTS_HUMAN else
                "这个问题需要人工客服处理。" if last.escalate else "还没有解决？" if again else "需要人工帮助？")
        st.markdown(f"**{lead}** 转人工后由{ui.md(team)}为您处理，我们会把上面的对话一并转过去。")
        if last.have_ready:
            st.markdown("请先准备好：" + "、".join(ui.md(x) for x in last.have_ready))
        st.button("转人工", icon=":material/support_agent:", key="handoff", type="primary" if last.escalate or again or asked_human else "secondary",
                  on_click=hand_over, args=(kefu, token))


def main() -> None:
    settings = ui.settings_or_stop()
    head, restart = st.columns([5, 1], vertical_alignment="bottom")
    head.title("自助服务")
    kefu = ui.ready_kefu(settings)
    ui.warn_if_stale(kefu)
    token = _token()
    store = chat_store()
    chat = store.get(token) or Conversation()
    if chat.turns:
        restart.button("新对话", icon=":material/add_comment:", key="new_chat", on_click=new_chat)
    if question := st.chat_input("请输入您的问题"):
        chat = chat.add(question, _ask(kefu, chat, question))
        store.put(token, chat)
    st.caption(WELCOME)
    for i in range(len(chat.turns)):
        show_turn(kefu, token, chat.turns, i)
    handoff_box(kefu, token, chat)


if __name__ == "__main__":
    main()
