"""The Streamlit app driven by AppTest, on a copy of the shipped KB with the hash embedder
(conftest sets KEFU_HOME to a temp folder and KEFU_OOS_THRESHOLD=1 for it: nothing is refused)."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import stat
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.errors import BusyError, ValidationError
from core.settings import load_settings
from index import versions as store
from ingest import staging as ui_staging
from ingest.collect import kb_files
from ingest.pipeline import run_ingest
from ingest.validate import load_kb
from kefu import Kefu
from kefu.web import common as ui_common
from records import feedback, handoff

pytestmark = pytest.mark.usefixtures("fresh_cache")
REPO = Path(__file__).resolve().parent.parent
QUESTION = "物流显示签收了但我没收到"
LOG007_ANSWER = "请先确认是否由家人、同事、门卫代收，或放入了快递柜、驿站，您可以在物流详情中查看签收信息"
PASSWORD = "editor-s3cret"
MARKER = re.compile(r"\\\[\d+\\\]")  # an escaped citation marker, \[1\], in the Markdown source


def passages(at):
    """The cited passages' expanders (the agent form has one of its own, for earlier messages)."""
    return [e for e in at.expander if e.label.startswith("\\[")]


def app() -> AppTest:
    return AppTest.from_file(str(REPO / "app.py"), default_timeout=60)


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.message for e in at.exception]
    return at


def ask_agent(at: AppTest, question: str) -> AppTest:
    at.text_area(key="agent_q").input(question)
    at.button(key="agent_submit").click().run()
    return ok(at)


def login(at: AppTest, password: str = PASSWORD) -> AppTest:
    at.switch_page("kefu/web/editor.py").run()
    at.text_input(key="editor_pw").input(password)
    at.button(key="editor_login_btn").click().run()
    return ok(at)


def docs_table(at: AppTest):
    """The document list (title, kind, entries, status, last change, file)."""
    return next(d.value for d in at.dataframe if "状态" in d.value.columns)


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "code", "info", "warning", "error", "success", "subheader")
             for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def plain(markdown: str) -> str:
    """Markdown source without its backslash escapes: what a person reads."""
    return re.sub(r"\\(.)", r"\1", markdown)


def footer(at: AppTest) -> str:
    """The answer's footer: KB version and latency."""
    return next(plain(c.value) for c in at.caption if c.value.startswith("知识库版本"))


def reply(at: AppTest) -> str:
    """The reply to copy (the situation's, in the agent's voice)."""
    return at.code[0].value


def cited(at: AppTest) -> str:
    """What the cited passages say, as a person reads them."""
    return plain("\n".join(m.value for e in passages(at) for m in e.markdown)).replace("**", "")


def steps(at: AppTest) -> list[str]:
    """The handling path's rows: "1. **核实**　…", one markdown each."""
    return [plain(m.value).replace("**", "") for m in at.markdown if re.match(r"\d+\\\. \*\*", m.value)]


def markers(at: AppTest) -> list:
    return [b for b in at.button if b.key and b.key.startswith("mk_")]


# --- 客服工作台 -----------------------------------------------------------------------------------


def test_first_start_builds_the_index_and_the_agent_gets_case_steps_and_citations(kb):
    settings = load_settings()
    assert store.current_version(settings.index_dir) is None
    at = ok(app().run())
    assert at.title[0].value == "客服工作台"  # the root opens the agent desk
    assert st.get_option("client.toolbarMode") == "minimal"  # no Deploy / Stop for agents and customers
    live = store.current_version(settings.index_dir)
    assert live is not None
    assert [s.label for s in at.status] == [f"准备完成：索引版本 {live}"] and at.status[0].state == "complete"

    ask_agent(at, QUESTION)
    assert [h.value for h in at.subheader] == ["包裹丢失或损毁"]
    assert at.metric[0].label == "置信度" and "不是答复正确的概率" in at.metric[0].help
    # The reply is the situation's, in the agent's voice: what was checked and what happens next.
    assert reply(at).startswith("您好，已为您核对订单的物流轨迹和签收记录") and "理赔" in reply(at)
    assert "请联系人工客服" not in reply(at)
    # Only the situation asked about: its checks and steps (no broken-package or stalled-parcel steps), then escalation.
    rows = steps(at)
    assert [r.split("　")[0] for r in rows] == ["1. 核实", "2. 步骤", "3. 步骤", "4. 步骤", "5. 升级"]
    assert not any("破损" in r or "停滞" in r for r in rows[:4])
    assert at.pills[0].value == 0 and at.pills[0].options == ["物流显示已签收，但用户没收到", "包裹外包装严重破损，或商品损坏", "物流长时间停滞，疑似丢失"]
    assert "按问题中的「签收」「没收到」选中这个情形" in plain(texts(at))
    assert len(markers(at)) >= len(rows) + 1  # every row and the reply carry clickable markers
    assert len(passages(at)) >= 3
    first = passages(at)[0]
    assert first.label.startswith(r"\[1\] ")
    caption = first.caption[0].value
    assert "faqs/logistics.yaml" in plain(caption) and "包裹丢失或损毁" in caption and live in plain(caption)
    assert "得分" not in plain(texts(at))  # retrieval scores belong to the hit-test, not the agent desk
    assert "**签收**" in first.markdown[0].value  # the query's matched words are in bold
    assert LOG007_ANSWER in cited(at)
    assert "内部备注" in texts(at)
    assert live in footer(at)


def test_a_citation_marker_opens_its_passage_and_another_situation_is_one_click_away(kb):
    at = ask_agent(ok(app().run()), QUESTION)
    n = len(passages(at))
    target = max(markers(at), key=lambda b: int(re.search(r"\d+", b.label).group(0)))
    k = int(re.search(r"\d+", target.label).group(0))
    assert k > 1 and at.session_state[f"cite_{at.session_state['agent_gen']}_1"] is True  # the first passage starts open
    target.click().run()
    ok(at)
    gen = at.session_state["agent_gen"]
    assert [at.session_state[f"cite_{gen}_{i}"] for i in range(1, n + 1)] == [i == k for i in range(1, n + 1)]

    at.pills[0].set_value(1).run()
    ok(at)
    rows = steps(at)
    assert any("当着配送员的面开箱检查" in r for r in rows) and not any("门卫代收" in r for r in rows)
    assert reply(at).startswith("您好，已收到您反映的包裹破损情况")
    assert at.text_area(key="agent_q").value == QUESTION


def test_a_related_case_shows_that_case_for_the_same_question(kb):
    at = ask_agent(ok(app().run()), QUESTION)
    related = [b for b in at.button if b.key and b.key.startswith("rel_")]
    assert related
    title = related[0].label
    related[0].click().run()
    ok(at)
    assert [h.value for h in at.subheader] == [title] and at.text_area(key="agent_q").value == QUESTION
    assert at.button(key="alt_包裹丢失或损毁")  # the way back to the case first decided


def test_picking_an_alternative_case_answers_for_it_without_editing_the_question(kb, monkeypatch):
    from answer.decide import DecisionParams

    # The hash embedder is rarely torn between cases: offer every case that scored at all.
    monkeypatch.setattr(DecisionParams, "from_settings",
                        classmethod(lambda cls, s: cls(oos_threshold=s.oos_threshold, offer_ratio=1e-9)))
    question = "客户来电说他公司财务要求发票上必须有税号，之前下单时没填，现在订单已经完成一个多月了，问能不能作废重开一张带税号的普通发票，应该怎么操作"
    at = ask_agent(ok(app().run()), question)
    # The two invoice topics are close under the hash embedder; whichever leads, pick the other.
    first = at.subheader[0].value
    assert first in ("发票问题", "企业采购与发票服务") and len(at.subheader) == 1
    other = "企业采购与发票服务" if first == "发票问题" else "发票问题"
    assert "也可能是…" in texts(at)
    at.button(key=f"alt_{other}").click().run()
    ok(at)
    assert at.text_area(key="agent_q").value == question
    assert [h.value for h in at.subheader] == [other]
    assert at.metric[0].value != "100%"  # the picked case keeps its own confidence
    assert at.button(key=f"alt_{first}")  # and the way back
    at.button(key="fb_up").click().run()
    assert ok(at) and feedback.negative(load_settings()) == []
    with sqlite3.connect(load_settings().feedback_db) as conn:
        assert conn.execute("SELECT question, case_title FROM feedback").fetchall() == [(question, other)]


def test_a_question_outside_the_kb_goes_to_a_named_team(kb, monkeypatch):
    monkeypatch.setenv("KEFU_OOS_THRESHOLD", "0")  # nothing is covered
    at = ask_agent(ok(app().run()), "今天天气怎么样")
    assert not at.subheader and not passages(at) and not at.code
    assert "知识库暂未收录" in at.warning[0].value
    banner = plain(at.error[0].value).replace("**", "")
    assert banner.startswith("需转人工（") and re.search(r"（(.+组|综合服务台)）", banner)


def test_another_issue_the_kb_does_not_cover_is_named_without_a_case(kb):
    message = "快递显示签收了但我没收到 另外旧机回收怎么弄"
    at = ask_agent(ok(app().run()), message)
    shown = plain(texts(at))
    assert "「旧机回收怎么弄」→ **知识库未收录**" in shown and "以旧换新和旧机回收，知识库暂未收录" in shown
    assert not [b for b in at.button if str(b.key).startswith("also_")]  # no case to open
    chat = customer(ok(app().run()))
    say(chat, message)
    assert "**您还提到「旧机回收怎么弄」**：以旧换新和旧机回收，知识库暂未收录" in plain(texts(chat))


def test_feedback_is_stored_with_phone_numbers_masked(kb):
    at = ask_agent(ok(app().run()), f"{QUESTION}，我的电话13812345678")
    at.text_input(key="fb_comment").input("应该先核实 13812345678 的签收人")
    at.button(key="fb_down").click().run()
    ok(at)
    assert "已记录反馈" in texts(at) and not [b for b in at.button if b.key in ("fb_up", "fb_down")]
    settings = load_settings()
    rows = feedback.negative(settings)
    assert len(rows) == 1
    row = rows[0]
    assert (row.role, row.rating, row.case) == ("agent", "down", "包裹丢失或损毁")
    assert row.question.endswith("138****5678") and row.comment == "应该先核实 138****5678 的签收人"
    assert row.kb_version == store.current_version(settings.index_dir)
    assert b"13812345678" not in settings.feedback_db.read_bytes()
    with sqlite3.connect(settings.feedback_db) as conn:
        assert conn.execute("SELECT count(*) FROM feedback").fetchone()[0] == 1


def test_a_broken_new_version_keeps_the_previous_one_serving(kb):
    at = ask_agent(ok(app().run()), QUESTION)
    settings = load_settings()
    first = store.current_version(settings.index_dir)
    p = kb / "faqs" / "logistics.yaml"
    p.write_text(p.read_text(encoding="utf-8").replace(LOG007_ANSWER, "改过的答复。" + LOG007_ANSWER), encoding="utf-8")
    second = run_ingest(settings).version
    (store.versions_dir(settings.index_dir) / second / "chunks.jsonl").write_text("garbage\n", encoding="utf-8")
    ask_agent(at, QUESTION)
    assert "最新的索引版本加载失败" in at.warning[0].value
    assert LOG007_ANSWER in cited(at) and "改过的答复" not in cited(at)
    assert first in footer(at)
    Kefu(settings).rollback()  # CURRENT is good again (from another process, as `kefu rollback` would)
    ask_agent(at, QUESTION)
    assert not at.warning and first in footer(at)  # and the warning is gone


def test_a_restart_with_a_damaged_live_version_serves_the_newest_intact_one_and_says_so(kb):
    settings = load_settings()
    first = run_ingest(settings).version
    p = kb / "faqs" / "logistics.yaml"
    p.write_text(p.read_text(encoding="utf-8").replace(LOG007_ANSWER, "改过的答复。" + LOG007_ANSWER), encoding="utf-8")
    second = run_ingest(settings).version
    (store.versions_dir(settings.index_dir) / second / "chunks.jsonl").write_text("garbage\n", encoding="utf-8")
    at = ask_agent(ok(app().run()), QUESTION)  # a fresh process: nothing loaded yet
    assert not [e for e in at.error if "索引无法加载" in e.value]
    warning = plain(at.warning[0].value)
    assert second in warning and f"最近的完整版本 {first}" in warning
    assert LOG007_ANSWER in cited(at) and "改过的答复" not in cited(at) and first in footer(at)
    assert store.current_version(settings.index_dir) == second  # not rewritten behind the editors' backs


# --- 自助服务 ---------------------------------------------------------------------------------------


def customer(at: AppTest) -> AppTest:
    at.switch_page("kefu/web/customer.py").run()
    return ok(at)


def say(at: AppTest, message: str) -> AppTest:
    at.chat_input[0].set_value(message).run()
    return ok(at)


def test_customer_chat_keeps_history_and_shows_no_internal_notes(kb):
    at = customer(ok(app().run()))
    say(at, QUESTION)
    say(at, "另外，我的账号被盗了怎么办")  # a new topic: read alone, not with the parcel question
    roles = [m.name for m in at.chat_message]
    assert roles == ["user", "assistant", "user", "assistant"]
    first, second = at.chat_message[1], at.chat_message[3]
    assert at.chat_message[0].markdown[0].value == QUESTION
    first_text = "\n".join(m.value for m in first.markdown)
    assert LOG007_ANSWER in first_text and "您可以先自己试试" in first_text
    assert second.warning[0].value.startswith("这个问题需要人工客服处理：涉及账户安全")  # escalation.txt: 被盗
    box = plain(texts(at))
    assert "转人工后由账户安全组为您处理" in box and "请先准备好：账户名或注册手机号" in box  # the latest answer's team
    assert at.button(key="handoff").proto.type == "primary"  # escalation: the handoff is the main action
    everything = texts(at)
    assert "内部备注" not in everything and "核对订单号、物流轨迹和签收记录" not in everything  # no verify step
    assert not at.expander


def test_three_messages_then_a_handoff_gives_a_reference_number(kb):
    at = customer(ok(app().run()))
    for message in ("你好", QUESTION, "我的电话13812345678，家里人都说没拿到"):
        say(at, message)
    assert len(at.chat_message) == 6
    at.button(key="handoff").click().run()
    ok(at)
    done = plain(at.success[0].value)
    ref = re.search(r"KF-\d{8}-\d{4}", done).group(0)
    assert "转人工单号" in done and not [b for b in at.button if b.key == "handoff"]
    h = handoff.get(load_settings(), ref)
    assert h.team in done and [m.question for m in h.messages] == ["你好", QUESTION, "我的电话138****5678，家里人都说没拿到"]
    assert stat.S_IMODE(load_settings().feedback_db.stat().st_mode) == 0o600
    say(at, "好的谢谢")
    assert ref in plain(at.success[0].value)  # the number stays in view; no second handoff


def test_a_first_message_asking_for_a_human_gets_the_handoff_button(kb):
    at = customer(ok(app().run()))
    say(at, "我要转人工")
    assert "可以为您转人工客服" in at.chat_message[1].markdown[0].value
    box = plain(texts(at))
    assert "点下方的「转人工」即可转接" in box
    assert at.button(key="handoff").proto.type == "primary"
    at.button(key="handoff").click().run()
    ref = re.search(r"KF-\d{8}-\d{4}", plain(ok(at).success[0].value)).group(0)
    assert [m.question for m in handoff.get(load_settings(), ref).messages] == ["我要转人工"]


def test_asking_for_a_human_after_a_question_keeps_that_questions_team(kb):
    at = customer(ok(app().run()))
    say(at, QUESTION)
    say(at, "转人工")
    box = plain(texts(at))
    assert "点下方的「转人工」即可转接" in box and "转人工后由物流理赔组为您处理" in box


def test_the_chat_survives_a_reload_of_the_tab(kb):
    at = customer(ok(app().run()))
    say(at, QUESTION)
    token = at.query_params["c"]
    assert token
    reloaded = app()  # a new session, as after a reload
    reloaded.switch_page("kefu/web/customer.py")
    reloaded.query_params["c"] = token  # the reloaded URL keeps the chat's token
    ok(reloaded.run())
    assert [m.name for m in reloaded.chat_message] == ["user", "assistant"]
    assert reloaded.chat_message[0].markdown[0].value == QUESTION
    other = customer(ok(app().run()))  # another tab starts its own chat
    assert not other.chat_message


def test_a_very_long_message_is_folded(kb):
    at = customer(ok(app().run()))
    say(at, "冻肉到了都化了" + "啊" * 10_000)
    bubble = at.chat_message[0]
    assert len(plain(bubble.markdown[0].value)) <= 210 and bubble.expander[0].label == "展开全文（共 10007 字）"
    assert "已按前 500 个字处理" in plain(texts(at))


def test_sample_content_is_marked_for_customers(kb):
    at = customer(ok(app().run()))
    say(at, "PLUS会员有哪些权益，年费多少？")  # MEM-003 quotes 99元/年 and is marked sample: true
    assert "99元/年" in "\n".join(m.value for m in at.chat_message[1].markdown)
    assert any("示例内容，以实际政策为准" in c.value for c in at.chat_message[1].caption)


def test_a_customer_picks_one_of_the_offered_cases(kb, monkeypatch):
    from answer.decide import DecisionParams

    # The hash embedder is rarely torn between cases: offer every case that scored at all.
    monkeypatch.setattr(DecisionParams, "from_settings",
                        classmethod(lambda cls, s: cls(oos_threshold=s.oos_threshold, offer_ratio=1e-9)))
    question = "客户来电说他公司财务要求发票上必须有税号，之前下单时没填，现在订单已经完成一个多月了，问能不能作废重开一张带税号的普通发票，应该怎么操作"
    at = customer(ok(app().run()))
    say(at, question)
    # The two invoice topics are close under the hash embedder; whichever is offered, pick it.
    teams = {"发票问题": "订单服务组", "企业采购与发票服务": "企业客户服务组"}
    offered = [k[len("pick_0_"):] for k in (b.key for b in at.button) if k and k.startswith("pick_0_")]
    picked = next(c for c in offered if c in teams)
    at.button(key=f"pick_0_{picked}").click().run()
    ok(at)
    assert at.chat_message[0].markdown[0].value == ui_common.md(question)  # the question is unchanged
    assert f"转人工后由{teams[picked]}为您处理" in plain(texts(at))


def test_customer_question_outside_the_kb_goes_to_a_named_team(kb, monkeypatch):
    monkeypatch.setenv("KEFU_OOS_THRESHOLD", "0")
    at = customer(ok(app().run()))
    question = "**今天**天气<b>怎么样</b> [点这里](http://evil.example)"
    say(at, question)
    assert at.chat_message[0].markdown[0].value == ui_common.md(question)  # shown literally
    assert plain(ui_common.md(question)) == question
    reply_block = at.chat_message[1]
    answer = plain(reply_block.warning[0].value)
    assert "建议转人工客服（" in answer and "已为您转人工" not in answer
    assert not [m for m in reply_block.markdown if "您可以先自己试试" in m.value]
    assert at.button(key="handoff") and "请先准备好：" in plain(texts(at))


# --- 知识库管理 -------------------------------------------------------------------------------------


def test_editor_is_locked_without_a_password(kb):
    at = ok(app().run())
    at.switch_page("kefu/web/editor.py").run()
    ok(at)
    assert "KEFU_EDITOR_PASSWORD" in at.info[0].value
    assert not at.file_uploader and not at.text_input and not at.text_area and not at.dataframe and not at.button


def test_editor_needs_the_right_password_then_lists_documents(kb, monkeypatch):
    monkeypatch.setenv("KEFU_EDITOR_PASSWORD", PASSWORD)
    at = login(ok(app().run()), "wrong")
    assert "密码不正确" in at.error[0].value and not at.dataframe and not at.file_uploader
    at.text_input(key="editor_pw").input(PASSWORD)
    at.button(key="editor_login_btn").click().run()
    ok(at)
    docs = docs_table(at)
    assert "faqs/logistics.yaml" in set(docs["文件"]) and set(docs["状态"]) == {"已上线"}
    rows = docs.set_index("文件")
    # Documents by what an editor calls them: title, kind, entry count, last change.
    assert list(docs.columns[:5]) == ["标题", "类型", "条目数", "状态", "最后修改 (UTC)"]
    assert tuple(rows.loc["faqs/logistics.yaml", ["标题", "类型"]]) == ("物流与配送问题 FAQ", "FAQ")
    assert rows.loc["faqs/logistics.yaml", "条目数"] == sum(f.file == "faqs/logistics.yaml" for f in load_kb(kb).faqs)
    assert tuple(rows.loc["playbooks/5-3-lost-or-damaged.yaml", ["标题", "类型", "条目数"]]) == ("包裹丢失或损毁 处理手册", "处理手册", 3)
    assert tuple(rows.loc["service_scope.md", ["标题", "条目数"]]) == ("服务范围文档", 23)
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", d) for d in docs["最后修改 (UTC)"])
    samples = plain(next(w.value for w in at.warning if "仍含示例内容" in w.value))
    assert re.search(r"\d+ 条 FAQ 仍含示例内容", samples) and "MEM-003" in samples  # 99元/年: editors see what to replace
    assert len(docs) == len(kb_files(kb)) > 30


def test_editor_password_from_streamlit_secrets(kb):
    at = ok(app().run())
    at.secrets["editor_password"] = "from-secrets"
    login(at, "from-secrets")
    assert at.dataframe and "密码不正确" not in texts(at)


def test_a_gbk_upload_is_refused_and_a_utf8_one_goes_live(kb, monkeypatch):
    monkeypatch.setenv("KEFU_EDITOR_PASSWORD", PASSWORD)
    at = login(ok(app().run()))
    settings = load_settings()
    index_before, kb_before = snapshot(settings.index_dir), snapshot(kb)
    csv = ("id,question,variants,answer,case,category,effective_date,source,sample\n"
           "LOG-900,快递柜取件码过期了怎么办,取件码过期|柜子打不开,请在物流详情中重新获取取件码，或联系配送员重新投递。,"
           "配送时间更改,物流与配送问题,2026-01-01,服务范围文档 五.1,否\n")
    at.radio(key="edit_mode").set_value("上传文件").run()
    at.file_uploader(key="upload").set_value(("新增问答.csv", csv.encode("gbk"), "text/csv")).run()
    at.button(key="validate_upload").click().run()
    ok(at)
    error = plain(at.error[0].value)
    assert "faqs/新增问答.csv 第 2 行" in error and "GBK" in error
    # The hint converts this very file, and names the spreadsheet's own way to save UTF-8.
    assert "iconv -f GBK -t UTF-8 '新增问答.csv' > '新增问答-utf8.csv'" in error and "CSV UTF-8" in error
    assert not [b for b in at.button if b.key == "apply"]
    assert snapshot(settings.index_dir) == index_before and snapshot(kb) == kb_before

    at.file_uploader(key="upload").set_value(("新增问答.csv", csv.encode("utf-8"), "text/csv")).run()
    at.button(key="validate_upload").click().run()
    ok(at)
    assert "校验通过" in at.success[0].value
    preview = next(d.value for d in at.dataframe if "段落" in d.value.columns)
    assert list(preview["段落"]) == ["faq:LOG-900"]
    at.button(key="apply").click().run()
    ok(at)
    assert (kb / "faqs" / "新增问答.csv").read_bytes() == csv.encode("utf-8")
    live = store.current_version(settings.index_dir)
    assert live != min(store.list_versions(settings.index_dir)) and f"已上线 {live}" in plain(at.success[0].value)
    assert docs_table(at).set_index("文件").loc["faqs/新增问答.csv", "状态"] == "已上线"


def test_an_edit_naming_an_unknown_case_is_refused_and_changes_nothing(kb, monkeypatch):
    monkeypatch.setenv("KEFU_EDITOR_PASSWORD", PASSWORD)
    at = login(ok(app().run()))
    settings = load_settings()
    index_before, kb_before = snapshot(settings.index_dir), snapshot(kb)
    at.radio(key="edit_mode").set_value("编辑原文（高级）").run()
    at.selectbox(key="edit_file").set_value("faqs/logistics.yaml").run()
    area = at.text_area(key="edit_text::faqs/logistics.yaml")
    line = 1 + area.value.splitlines().index("  case: 包裹丢失或损毁")  # the `case:` line of LOG-007
    area.input(area.value.replace("case: 包裹丢失或损毁", "case: 不存在的案例", 1))
    at.button(key="validate_edit").click().run()
    ok(at)
    error = plain(at.error[0].value)
    assert f"faqs/logistics.yaml 第 {line} 行" in error and "不存在的案例" in error
    assert "线上索引均未改变" in error and not [b for b in at.button if b.key == "apply"]
    assert snapshot(settings.index_dir) == index_before and snapshot(kb) == kb_before


def test_an_edit_goes_live_without_a_restart_and_rolls_back(kb, monkeypatch):
    monkeypatch.setenv("KEFU_EDITOR_PASSWORD", PASSWORD)
    at = ask_agent(ok(app().run()), QUESTION)
    settings = load_settings()
    v1 = store.current_version(settings.index_dir)
    assert LOG007_ANSWER in cited(at) and "温馨提示" not in cited(at)

    login(at)
    at.radio(key="edit_mode").set_value("编辑原文（高级）").run()
    at.selectbox(key="edit_file").set_value("faqs/logistics.yaml").run()
    area = at.text_area(key="edit_text::faqs/logistics.yaml")
    assert area.value.count(LOG007_ANSWER) == 1
    area.input(area.value.replace(LOG007_ANSWER, "温馨提示：" + LOG007_ANSWER))
    at.button(key="validate_edit").click().run()
    ok(at)
    diff = at.dataframe[2].value  # documents, chunk preview, diff
    assert list(diff["文件"]) == ["faqs/logistics.yaml"] and list(diff["修改"]) == [1]
    validated = area.value
    at.text_area(key="edit_text::faqs/logistics.yaml").input(validated + "\n# 校验后又改了一行\n").run()
    assert "请重新校验" in at.info[0].value and not [b for b in at.button if b.key == "apply"]
    at.text_area(key="edit_text::faqs/logistics.yaml").input(validated).run()
    at.button(key="apply").click().run()
    ok(at)
    v2 = store.current_version(settings.index_dir)
    assert v2 != v1 and f"已上线 {v2}" in plain(at.success[0].value)
    assert {m.label: m.value for m in at.metric}["修改"] == "1"

    at.switch_page("kefu/web/agent.py").run()
    ask_agent(at, QUESTION)
    assert "温馨提示：" + LOG007_ANSWER in cited(at)
    assert v2 in footer(at)

    at.switch_page("kefu/web/editor.py").run()
    at.button(key="rollback").click().run()
    ok(at)
    assert store.current_version(settings.index_dir) == v1
    assert [plain(m.value) for m in at.success] == [f"已回滚：{v2} → {v1}，知识库文件已恢复为该版本的内容"]  # the ingest report is gone
    assert LOG007_ANSWER in (kb / "faqs" / "logistics.yaml").read_text(encoding="utf-8")
    assert "温馨提示" not in (kb / "faqs" / "logistics.yaml").read_text(encoding="utf-8")  # the edit is undone in kb/ too
    assert set(docs_table(at)["状态"]) == {"已上线"}
    at.switch_page("kefu/web/agent.py").run()
    ask_agent(at, QUESTION)
    assert "温馨提示" not in cited(at) and v1 in footer(at)


CSV_HEAD = "id,question,variants,answer,case,category,effective_date,source,sample\n"


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.radio(key="edit_mode").set_value("上传文件").run()
    at.file_uploader(key="upload").set_value((name, data, "text/csv")).run()
    at.button(key="validate_upload").click().run()
    return ok(at)


def apply_button(at: AppTest):
    return next((b for b in at.button if b.key == "apply"), None)


def test_the_uploader_offers_templates_that_pass_validation_and_states_the_real_limit(kb, monkeypatch):
    monkeypatch.setenv("KEFU_EDITOR_PASSWORD", PASSWORD)
    at = login(ok(app().run()))
    at.radio(key="edit_mode").set_value("上传文件").run()
    ok(at)
    uploader = at.file_uploader(key="upload")
    assert uploader.proto.max_upload_size_mb == 2 and "不超过 2 MB" in uploader.label  # not Streamlit's 200 MB
    # Its buttons in Chinese, by sight and by name: browse, and once a file is chosen, remove and replace.
    names = "".join(h.value for h in at.get("html"))
    assert "单个文件不超过 2 MB" in names and all(f'"{n}"' in names for n in ("选择文件", "移除", "更换文件"))
    assert "移除文件 " in names and any(h.proto.unsafe_allow_javascript for h in at.get("html"))  # the script runs
    columns = next(d.value for d in at.dataframe if "列名" in d.value.columns)
    assert list(columns["列名"]) == ["id", "question", "variants", "answer", "case", "category", "effective_date", "source", "sample"]
    assert all(columns["说明"].str.len() > 5) and "|" in columns.set_index("列名").loc["variants", "说明"]
    assert {b.key for b in at.get("download_button")} == {"tpl_csv", "tpl_xlsx"}
    kefu = Kefu(load_settings())
    for name, kind in (("FAQ模板.csv", "csv"), ("FAQ模板.xlsx", "xlsx")):
        at.file_uploader(key="upload").set_value((name, kefu.faq_template(kind), "application/octet-stream")).run()
        at.button(key="validate_upload").click().run()
        ok(at)
        assert not at.error, [e.value for e in at.error]
        preview = next(d.value for d in at.dataframe if "段落" in d.value.columns)
        assert list(preview["段落"]) == ["faq:LOG-901"], name  # the example row is a valid FAQ as it stands


def test_validation_shows_every_error_at_once(kb, monkeypatch):
    monkeypatch.setenv("KEFU_EDITOR_PASSWORD", PASSWORD)
    at = login(ok(app().run()))
    bad = (CSV_HEAD + "LOG-910,问一,,答一,配送时间更改,物流与配送问题,2026-13-01,依据,否\n"
           "LOG-911,问二,,答二,配送时间更改,物流与配送问题,2026-01-01,依据,也许\n"
           "LOG-912,问三,,,配送时间更改,物流与配送问题,2026-01-01,依据,否\n")
    upload(at, "批量.csv", bad.encode())
    error = plain(at.error[0].value)
    assert "（共 3 处）" in error
    for line, what in ((2, "不是有效日期"), (3, "sample"), (4, "answer")):
        assert re.search(rf"faqs/批量\.csv 第 {line} 行：[^\n]*{what}", error), (line, error)
    assert apply_button(at) is None


def test_a_duplicate_id_is_blamed_on_the_uploaded_file(kb, monkeypatch):
    monkeypatch.setenv("KEFU_EDITOR_PASSWORD", PASSWORD)
    at = login(ok(app().run()))
    # "a.csv" sorts before logistics.yaml: ingest meets the upload first, yet the upload is at fault.
    upload(at, "a.csv", (CSV_HEAD + "LOG-007,重复的编号,,答,,物流与配送问题,2026-01-01,依据,否\n").encode())
    error = plain(at.error[0].value)
    assert "faqs/a.csv 第 2 行" in error and "LOG-007" in error and "faqs/logistics.yaml" in error
    assert "faqs/logistics.yaml 第" not in error.split("：")[0]


def test_a_document_is_deleted_after_validation_and_republished(kb, monkeypatch):
    monkeypatch.setenv("KEFU_EDITOR_PASSWORD", PASSWORD)
    at = login(ok(app().run()))
    settings = load_settings()
    v1 = store.current_version(settings.index_dir)
    # A file that playbooks cite cannot go: every citation that would break is listed, nothing changes.
    kb_before = snapshot(kb)
    at.radio(key="edit_mode").set_value("删除文档").run()
    assert at.selectbox(key="delete_file").value is None  # nothing is preselected for deletion
    at.selectbox(key="delete_file").set_value("faqs/logistics.yaml").run()
    at.button(key="validate_delete").click().run()
    ok(at)
    error = plain(at.error[0].value)
    assert re.search(r"（共 \d+ 处）", error) and error.count("playbooks/") > 1 and "faq:LOG-007" in error
    assert apply_button(at) is None and snapshot(kb) == kb_before

    upload(at, "新增.csv", (CSV_HEAD + "LOG-920,临时问题,,临时答复。,,物流与配送问题,2026-01-01,依据,否\n").encode())
    apply_button(at).click().run()
    v2 = store.current_version(settings.index_dir)
    assert v2 != v1 and "faqs/新增.csv" in set(docs_table(at)["文件"])
    at.radio(key="edit_mode").set_value("删除文档").run()
    at.selectbox(key="delete_file").set_value("faqs/新增.csv").run()
    at.button(key="validate_delete").click().run()
    ok(at)
    assert any("校验通过：删除 faqs/新增.csv" in plain(m.value) for m in at.success)
    assert apply_button(at).label == "确认删除并入库"
    apply_button(at).click().run()
    ok(at)
    v3 = store.current_version(settings.index_dir)
    assert v3 not in (v1, v2) and not (kb / "faqs" / "新增.csv").exists()
    assert "faqs/新增.csv" not in set(docs_table(at)["文件"]) and f"已上线 {v3}" in plain(at.success[0].value)
    assert "faq:LOG-920" not in {c.passage for c in store.read_version(settings.index_dir).chunks}


def test_republish_publishes_what_changed_in_the_kb_folder(kb, monkeypatch):
    monkeypatch.setenv("KEFU_EDITOR_PASSWORD", PASSWORD)
    at = login(ok(app().run()))
    settings = load_settings()
    v1 = store.current_version(settings.index_dir)
    at.button(key="republish").click().run()
    ok(at)
    assert store.current_version(settings.index_dir) == v1 and f"线上版本仍为 {v1}" in plain(texts(at))
    p = kb / "faqs" / "logistics.yaml"
    p.write_text(p.read_text(encoding="utf-8").replace(LOG007_ANSWER, "温馨提示：" + LOG007_ANSWER), encoding="utf-8")
    at.switch_page("kefu/web/editor.py").run()
    assert docs_table(at).set_index("文件").loc["faqs/logistics.yaml", "状态"] == "已修改未入库"
    at.button(key="republish").click().run()
    ok(at)
    v2 = store.current_version(settings.index_dir)
    assert v2 != v1 and set(docs_table(at)["状态"]) == {"已上线"} and f"已上线 {v2}" in plain(at.success[0].value)
    # A broken folder is refused with every problem listed, and the live version stays.
    p.write_text(p.read_text(encoding="utf-8").replace("case: 包裹丢失或损毁", "case: 不存在的案例"), encoding="utf-8")
    at.button(key="republish").click().run()
    ok(at)
    assert "重新发布未通过校验" in at.error[0].value and "不存在的案例" in plain(at.error[0].value)
    assert store.current_version(settings.index_dir) == v2


def test_the_faq_form_edits_one_entry_and_adds_another(kb, monkeypatch):
    monkeypatch.setenv("KEFU_EDITOR_PASSWORD", PASSWORD)
    at = login(ok(app().run()))
    settings = load_settings()
    assert at.radio(key="edit_mode").value == "FAQ 表单"  # the form is what an editor meets first
    at.selectbox(key="faq_file").set_value("faqs/logistics.yaml").run()
    at.selectbox(key="faq_pick::faqs/logistics.yaml").set_value("LOG-007").run()
    k = "faqs/logistics.yaml::LOG-007"
    assert at.text_area(key=f"faq_a::{k}").value == next(f.answer for f in load_kb(kb).faqs if f.id == "LOG-007")
    assert at.selectbox(key=f"faq_case::{k}").value == "包裹丢失或损毁"
    original = (kb / "faqs" / "logistics.yaml").read_text(encoding="utf-8")
    at.text_area(key=f"faq_a::{k}").input("温馨提示：" + at.text_area(key=f"faq_a::{k}").value)
    at.text_area(key=f"faq_v::{k}").input(at.text_area(key=f"faq_v::{k}").value + "\n快递说送到了我没见着")
    at.checkbox(key=f"faq_sample::{k}").check()
    at.button(key="validate_form").click().run()
    ok(at)
    assert "校验通过" in at.success[0].value
    at.button(key="apply").click().run()
    ok(at)
    faq = next(f for f in load_kb(kb).faqs if f.id == "LOG-007")
    assert faq.answer.startswith("温馨提示：" + LOG007_ANSWER) and faq.sample and faq.variants[-1] == "快递说送到了我没见着"
    edited = (kb / "faqs" / "logistics.yaml").read_text(encoding="utf-8")
    # Only that entry's block changed: the other entries and the comments are as they were.
    assert edited.splitlines()[0] == original.splitlines()[0] and len(edited) - len(original) < 80
    assert store.current_version(settings.index_dir) != min(store.list_versions(settings.index_dir))

    at.selectbox(key="faq_pick::faqs/logistics.yaml").set_value("＋ 新建 FAQ").run()
    k = "faqs/logistics.yaml::＋ 新建 FAQ"
    assert at.selectbox(key=f"faq_cat::{k}").value == "物流与配送问题"  # the file's own category to start with
    at.text_input(key=f"faq_id::{k}").input("LOG-930")
    at.text_input(key=f"faq_q::{k}").input("快递员不送上楼怎么办")
    at.text_area(key=f"faq_a::{k}").input("送货上楼以配送服务说明为准；未按约定送达时，可以联系人工客服反馈。")
    at.selectbox(key=f"faq_case::{k}").set_value("配送时间更改")
    at.text_input(key=f"faq_src::{k}").input("服务范围文档 五.1")
    at.button(key="validate_form").click().run()
    ok(at)
    at.button(key="apply").click().run()
    ok(at)
    new = next(f for f in load_kb(kb).faqs if f.id == "LOG-930")
    assert (new.case, new.category, new.file) == ("配送时间更改", "物流与配送问题", "faqs/logistics.yaml")


def test_the_raw_editor_opens_nothing_by_itself_and_warns_before_case_titles_change(kb, monkeypatch):
    monkeypatch.setenv("KEFU_EDITOR_PASSWORD", PASSWORD)
    at = login(ok(app().run()))
    at.radio(key="edit_mode").set_value("编辑原文（高级）").run()
    ok(at)
    assert at.selectbox(key="edit_file").value is None and not at.text_area
    at.selectbox(key="edit_file").set_value("service_scope.md").run()
    assert "案例标题是整个知识库的分类键" in plain("".join(w.value for w in at.warning))
    area = at.text_area(key="edit_text::service_scope.md")
    area.input(area.value.replace("包裹丢失或损毁", "包裹丢失", 1)).run()
    assert "会改动或删除案例标题：包裹丢失或损毁" in plain(texts(at))
    assert at.button(key="validate_edit").disabled  # not until the editor confirms
    at.checkbox(key="confirm_rename").check().run()
    assert not at.button(key="validate_edit").disabled


def test_hit_test_panel_verdict_comparable_scores_history_and_negative_feedback(kb, monkeypatch):
    monkeypatch.setenv("KEFU_EDITOR_PASSWORD", PASSWORD)
    at = ok(app().run())
    settings = load_settings()
    feedback.record(settings, role="customer", question="电话 13912345678 的订单丢了", case=None,
                    kb_version="v1", rating="down", comment="没答上")
    feedback.record(settings, role="agent", question="好评", case=None, kb_version="v1", rating="up")
    login(at)
    for q in ("退款多久到账", QUESTION):
        at.text_input(key="hit_q").input(q)
        at.button(key="hit_go").click().run()
        ok(at)
    hits = next(d.value for d in at.dataframe if "融合分" in d.value.columns)
    assert hits.iloc[0]["段落"] == "faq:LOG-007" and len(hits) == 10
    # Comparable numbers: every score is on a 0-1 scale and the fused one is their stated sum.
    assert "词法分" not in hits.columns and {"向量相似度", "词法匹配度"} <= set(hits.columns)
    assert hits[["向量相似度", "词法匹配度"]].stack().between(0, 1).all()
    assert ((hits["向量相似度"] + 0.1 * hits["词法匹配度"] - hits["融合分"]).abs() < 0.002).all()
    assert list(hits["融合分"]) == sorted(hits["融合分"], reverse=True)
    # Shown with three decimals each, so that 1.0004 reads 1.000 beside 0.973 (not "1").
    table = next(d for d in at.dataframe if "融合分" in d.value.columns)
    formats = {name: c["type_config"]["format"] for name, c in json.loads(table.proto.columns).items() if "type_config" in c}
    assert formats == {"融合分": "%.3f", "向量相似度": "%.3f", "词法匹配度": "%.3f"}, formats
    verdict = plain(next(m.value for m in at.success if "最终判定" in m.value))
    assert "作答：案例「包裹丢失或损毁」" in verdict and "FAQ LOG-007 的标准答复" in verdict
    history = next(d.value for d in at.dataframe if "判定" in d.value.columns)
    assert list(history["问题"]) == [QUESTION, "退款多久到账"] and history.iloc[0]["判定"].startswith("作答：")
    fb = next(d.value for d in at.dataframe if "说明" in d.value.columns)
    assert list(fb["问题"]) == ["电话 139****5678 的订单丢了"] and list(fb["角色"]) == ["用户"]


def test_a_refused_question_says_so_in_the_hit_test(kb, monkeypatch):
    monkeypatch.setenv("KEFU_OOS_THRESHOLD", "0")  # everything counts as not covered
    kefu = Kefu(load_settings())
    kefu.ingest()
    result = kefu.hit_test(QUESTION)
    assert result.refused and result.verdict.startswith("拒答：知识库未覆盖") and result.rows


def test_an_faq_is_switched_off_and_on_without_deleting_it(kb, monkeypatch):
    monkeypatch.setenv("KEFU_EDITOR_PASSWORD", PASSWORD)
    at = login(ok(app().run()))
    settings = load_settings()
    faq_file = (kb / "faqs" / "logistics.yaml").read_bytes()
    at.text_input(key="hit_q").input(QUESTION)
    at.button(key="hit_go").click().run()
    at.selectbox(key="hit_switch").set_value("faq:LOG-007").run()
    at.button(key="hit_disable").click().run()
    ok(at)
    assert "已停用 faq:LOG-007" in plain(texts(at))
    hits = next(d.value for d in at.dataframe if "融合分" in d.value.columns)
    assert "faq:LOG-007" not in set(hits["段落"])  # the test query was run again on the new version
    assert (kb / "faqs" / "logistics.yaml").read_bytes() == faq_file  # the entry itself is untouched
    assert "faq:LOG-007" in (kb / "dict" / "disabled.txt").read_text(encoding="utf-8")
    # It stays off through a re-ingest (the switch is in the KB), and answers no longer use it.
    at.button(key="republish").click().run()
    live = store.read_version(settings.index_dir)
    assert "faq:LOG-007" not in {c.passage for c in live.chunks} and "faq:LOG-007" in live.kb.disabled
    assert Kefu(settings).ask(QUESTION).faq_id != "LOG-007"
    at.button(key="enable::faq:LOG-007").click().run()
    ok(at)
    assert "已重新启用 faq:LOG-007" in plain(texts(at))
    hits = next(d.value for d in at.dataframe if "融合分" in d.value.columns)
    assert hits.iloc[0]["段落"] == "faq:LOG-007"
    assert not [b for b in at.button if (b.key or "").startswith("enable::")]


# --- helpers the pages rely on ----------------------------------------------------------------------------


def test_highlight_escapes_markdown_and_bolds_matched_words():
    text = "包裹*丢失* [点我](http://x.cn) <b>hi</b> $1$ :red[x]\n第二行"
    out = ui_common.highlight(text, ["包裹", "丢失", "点我"])
    assert out == (r"**包裹**\***丢失**\* \[**点我**\]\(http\://x\.cn\) \<b\>hi\</b\> \$1\$ \:red\[x\]" + "  \n第二行")
    assert ui_common.highlight("包裹丢失", ["包裹", "丢失"]) == "**包裹丢失**"  # adjacent matches merge
    assert ui_common.highlight("Refund 退款", ["refund"]) == "**Refund** 退款"
    assert ui_common.highlight("没有", ["没"]) == "没有"  # single characters are noise


def test_upload_targets():
    assert ui_staging.upload_target("价保规则.md") == "docs/价保规则.md"
    assert ui_staging.upload_target("C:\\Users\\me\\FAQ.CSV") == "faqs/FAQ.CSV"
    assert ui_staging.upload_target("../../etc/faq.xlsx") == "faqs/faq.xlsx"
    for bad in ("notes.txt", "run.exe", ".hidden.md", "~$faq.xlsx", ".md"):
        with pytest.raises(ValidationError):
            ui_staging.upload_target(bad)


def test_a_failed_ingest_puts_the_kb_back(kb, monkeypatch):
    settings = load_settings()
    run_ingest(settings)
    p = kb / "faqs" / "logistics.yaml"
    original = p.read_bytes()
    edited = original.decode("utf-8").replace(LOG007_ANSWER, "温馨提示：" + LOG007_ANSWER).encode("utf-8")
    change = ui_staging.stage(settings, "faqs/logistics.yaml", edited)
    assert [c.passage for c in change.chunks if c.text.count("温馨提示")] == ["faq:LOG-007"]
    new_doc = ui_staging.stage(settings, "docs/价保.md", "# 价格保护\n\n降价后七天内可申请价保。\n".encode())
    assert not (kb / "docs").exists()

    def busy(*a, **k):
        raise BusyError("已有另一个入库任务在运行")

    monkeypatch.setattr(ui_staging, "run_ingest", busy)
    index_before, kb_before = snapshot(settings.index_dir), snapshot(kb)
    for c in (change, new_doc):
        with pytest.raises(BusyError):
            ui_staging.apply(settings, c)
    assert snapshot(kb) == kb_before and not (kb / "docs").exists() and snapshot(settings.index_dir) == index_before


def test_no_page_renders_html():
    sources = [REPO / "app.py", *sorted((REPO / "kefu" / "web").glob("*.py"))]
    assert len(sources) >= 6
    for path in sources:
        code = path.read_text(encoding="utf-8")
        if path.name == "common.py":
            # The one exception: the uploader's stylesheet and script, a constant with only a number put in.
            assert code.count("st.html(") == 1
            assert "st.html(UPLOADER_HTML.replace(\"{mb}\", str(int(limit_mb))), unsafe_allow_javascript=True)" in code
            code = code.replace("st.html(UPLOADER_HTML", "")
            # Between them only the empty marker the stylesheet hides, so the script leaves no gap.
            style, script = ui_common.UPLOADER_HTML.removeprefix("<style>").removesuffix("</script>").split(
                '</style>\n<span class="kefu-uploader-names"></span>\n<script>')
            assert "<" not in style and "<" not in script and "innerHTML" not in script
        assert "unsafe_allow_html" not in code and "st.html" not in code, path


def test_an_index_built_by_another_model_is_rebuilt_on_start(kb, monkeypatch):
    run_ingest(load_settings().with_(embedding_model="hash:128"))
    old = store.current_version(load_settings().index_dir)
    at = ok(app().run())
    s = load_settings()
    live = store.read_version(s.index_dir)
    assert live.name != old and live.model == "hash:256"
    ask_agent(at, QUESTION)
    assert "包裹丢失或损毁" in texts(at)
