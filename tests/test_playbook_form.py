"""The playbook form of the editor console: a playbook read into the form and written back is
the same playbook; an edit is validated like any other change, then published and answered with."""

from __future__ import annotations

import dataclasses
import re

import pytest
import yaml

from core.errors import ValidationError
from core.kb import Playbook, PlaybookItem
from core.settings import load_settings
from index import versions as store
from ingest import playbook_form
from ingest.parse_entries import load_playbook
from ingest.validate import load_kb
from tests.test_app import PASSWORD, REPO, app, ask_agent, login, ok, plain, snapshot, steps

pytestmark = pytest.mark.usefixtures("fresh_cache")
LOST = "playbooks/5-3-lost-or-damaged.yaml"
FIRST_STEP = "请用户先确认是否由家人、同事、门卫代收，或放入了快递柜、驿站。"


@pytest.mark.parametrize("path", sorted((REPO / "kb" / "playbooks").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_playbook_is_written_back_as_the_same_playbook(path):
    rel = f"playbooks/{path.name}"
    text = path.read_text(encoding="utf-8")
    pb = load_playbook(text, rel)
    written = playbook_form.to_yaml(pb)
    assert load_playbook(written, rel) == pb
    # In the shipped layout: an unchanged playbook is written back byte for byte, so an edit
    # made in the form shows in a diff as the lines it changed and nothing else.
    assert written == text


def no_lines(pb: Playbook) -> Playbook:
    """The playbook without the line numbers it was read at."""
    def items(xs):
        return tuple(dataclasses.replace(i, line=0) for i in xs)

    situations = tuple(dataclasses.replace(s, verify=items(s.verify), steps=items(s.steps), reply=items([s.reply])[0], line=0)
                       for s in pb.situations)
    return dataclasses.replace(pb, preconditions=items(pb.preconditions), situations=situations,
                               self_service=items(pb.self_service), escalate=items(pb.escalate))


def test_the_written_file_is_plain_readable_yaml_with_optional_fields_left_out():
    pb = load_playbook((REPO / "kb" / LOST).read_text(encoding="utf-8"), LOST)
    s = pb.situations[0]
    bare = dataclasses.replace(pb, internal_notes=(), situations=(dataclasses.replace(s, keywords=(), verify=()),))
    text = playbook_form.to_yaml(bare)
    assert "internal_notes" not in text and "keywords" not in text and "verify" not in text
    assert "cites: [scope:5.3, faq:LOG-007]" in text and "\\u" not in text  # Chinese as itself, ids unquoted
    assert no_lines(load_playbook(text, LOST)) == no_lines(bare)
    # Text that could confuse YAML (a colon, a leading dash, a line break) survives as it was typed.
    tricky = "注意: 先核对\n- 再处理 # 不是注释"
    odd = dataclasses.replace(pb, summary=tricky, have_ready=("yes", "2026-01-01", "[订单号]"))
    back = load_playbook(playbook_form.to_yaml(odd), LOST)
    assert back.summary == tricky and back.have_ready == ("yes", "2026-01-01", "[订单号]")
    assert yaml.safe_load(playbook_form.to_yaml(odd))["summary"] == tricky


def test_table_rows_become_items_and_back():
    rows = [{"text": " 核对订单号。 ", "cites": "scope:5.3，faq:LOG-007 、 faq:LOG-008"}, {"text": None, "cites": None},
            {"text": "", "cites": float("nan")}, {"text": "只有内容", "cites": ""}]
    items = playbook_form.items_from_rows(rows)
    assert items == (PlaybookItem("核对订单号。", ("scope:5.3", "faq:LOG-007", "faq:LOG-008")), PlaybookItem("只有内容", ()))
    assert playbook_form.items_from_rows(playbook_form.item_rows(items)) == items
    esc = (PlaybookItem("需要理赔。", ("scope:5.3",), to="物流理赔组"),)
    assert playbook_form.items_from_rows(playbook_form.item_rows(esc, escalate=True)) == esc
    assert playbook_form.split_keywords("签收、没收到, auto renew，代收\n") == ("签收", "没收到", "auto renew", "代收")


def test_an_error_line_is_named_as_the_form_names_it():
    data = (REPO / "kb" / LOST).read_bytes()
    lines = data.decode("utf-8").splitlines()
    step_cites = 1 + lines.index("        cites: [scope:5.3, faq:LOG-007]", lines.index("    steps:"))
    assert playbook_form.place(data, step_cites) == "情形 1「物流显示已签收，但用户没收到」· 步骤第 1 项"
    assert playbook_form.place(data, 1 + lines.index("escalate:") + 1) == "转人工第 1 项"
    assert playbook_form.place(data, 3) == "摘要" and playbook_form.place(data, None) == ""


# --- the form in the editor console -------------------------------------------------------------------


def open_form(at, rel: str = LOST):
    at.radio(key="edit_mode").set_value("处理手册表单").run()
    at.selectbox(key="pb_file").set_value(rel).run()
    return ok(at)


def form_key(at) -> str:
    """The form's key: the file and its content hash."""
    return next(w.key for w in at.text_input if w.key and w.key.startswith("pb_case::")).removeprefix("pb_case::")


def edit_rows(at, key: str, edits: dict[int, dict], added: list[dict] | None = None):
    """What a person does in a table: change cells, add rows (AppTest takes the edit state)."""
    at.session_state[key] = {"edited_rows": edits, "added_rows": added or [], "deleted_rows": []}
    return at


def test_a_playbook_step_is_edited_in_the_form_validated_published_and_answered_with(kb, monkeypatch):
    monkeypatch.setenv("KEFU_EDITOR_PASSWORD", PASSWORD)
    at = login(ok(app().run()))
    settings = load_settings()
    v1 = store.current_version(settings.index_dir)
    open_form(at)
    key = form_key(at)
    case = at.text_input(key=f"pb_case::{key}")
    assert case.value == "包裹丢失或损毁" and case.disabled  # the case is the key: shown, not editable
    assert at.selectbox(key="pb_file").format_func(LOST) == "包裹丢失或损毁"
    steps_table = next(d for d in at.data_editor if d.key == f"pb_steps::0::{key}")
    assert steps_table.value.loc[0, "text"] == FIRST_STEP and steps_table.value.loc[0, "cites"] == "scope:5.3, faq:LOG-007"
    assert at.text_input(key=f"pb_kw::0::{key}").value == "签收、没收到、未收到、没拿到、代收"

    edited = "温馨提示：" + FIRST_STEP
    edit_rows(at, f"pb_steps::0::{key}", {0: {"text": edited}}).run()
    at.button(key="validate_playbook").click().run()
    ok(at)
    assert any(f"校验通过：{LOST}" in plain(m.value) for m in at.success), [m.value for m in at.error]
    diff = next(d.value for d in at.dataframe if "修改" in d.value.columns and "分块" in d.value.columns)
    assert list(diff["文件"]) == [LOST]
    at.button(key="apply").click().run()
    ok(at)
    v2 = store.current_version(settings.index_dir)
    assert v2 != v1 and f"已上线 {v2}" in plain(at.success[0].value)
    pb = next(p for p in load_kb(kb).playbooks if p.file == LOST)
    assert pb.situations[0].steps[0].text == edited
    # Only that line of the file changed.
    original = (REPO / "kb" / LOST).read_text(encoding="utf-8").splitlines()
    now = (kb / LOST).read_text(encoding="utf-8").splitlines()
    assert [(a, b) for a, b in zip(original, now) if a != b] == [(f"      - text: {FIRST_STEP}", f"      - text: {edited}")]
    assert len(now) == len(original)
    # The form now starts from the published file.
    assert form_key(at) != key

    at.switch_page("kefu/web/agent.py").run()
    ask_agent(at, "物流显示签收了但我没收到")
    assert any(s.endswith(edited) for s in steps(at)), steps(at)


def test_a_situation_is_added_and_removed(kb, monkeypatch):
    monkeypatch.setenv("KEFU_EDITOR_PASSWORD", PASSWORD)
    at = login(ok(app().run()))
    open_form(at)
    key = form_key(at)
    at.button(key=f"pb_drop::1::{key}").click().run()  # the second situation goes
    at.button(key=f"pb_add::{key}").click().run()
    ok(at)
    assert [w.key for w in at.text_input if w.key and w.key.startswith("pb_when::")] == [
        f"pb_when::0::{key}", f"pb_when::2::{key}", f"pb_when::3::{key}"]
    assert at.text_input(key=f"pb_when::3::{key}").value == ""  # the new one starts empty
    at.text_input(key=f"pb_when::3::{key}").input("用户要求上门取件核实")
    at.text_input(key=f"pb_kw::3::{key}").input("上门、取件")
    edit_rows(at, f"pb_steps::3::{key}", {}, [{"text": "登记上门取件的时间和地址。", "cites": "scope:5.3"}])
    at.text_area(key=f"pb_reply::3::{key}").input("您好，已为您登记上门取件，取件后会为您核实包裹情况。")
    at.text_input(key=f"pb_reply_cites::3::{key}").input("scope:5.3")
    at.button(key=f"pb_up::3::{key}").click().run()  # moved above the third one
    at.button(key="validate_playbook").click().run()
    ok(at)
    assert not at.error, [plain(e.value) for e in at.error]
    at.button(key="apply").click().run()
    ok(at)
    pb = next(p for p in load_kb(kb).playbooks if p.file == LOST)
    assert [s.when for s in pb.situations] == ["物流显示已签收，但用户没收到", "用户要求上门取件核实", "物流长时间停滞，疑似丢失"]
    assert pb.situations[1].keywords == ("上门", "取件") and pb.situations[1].steps[0].cites == ("scope:5.3",)


def test_bad_input_in_the_form_lists_every_error_where_it_is_and_publishes_nothing(kb, monkeypatch):
    monkeypatch.setenv("KEFU_EDITOR_PASSWORD", PASSWORD)
    at = login(ok(app().run()))
    settings = load_settings()
    index_before, kb_before = snapshot(settings.index_dir), snapshot(kb)
    open_form(at)
    key = form_key(at)
    edit_rows(at, f"pb_steps::0::{key}", {1: {"cites": "scope:5.3, faq:LOG-999"}})
    at.text_input(key=f"pb_reply_cites::2::{key}").input("faq:LOG-009, scope:9.9")
    at.button(key="validate_playbook").click().run()
    ok(at)
    error = plain(at.error[0].value)
    assert "（共 2 处）" in error and "线上索引均未改变" in error, error
    assert re.search(rf"{LOST} 第 \d+ 行：情形 1「物流显示已签收，但用户没收到」· 步骤第 2 项：引用的段落 'faq:LOG-999' 不存在", error), error
    assert re.search(rf"{LOST} 第 \d+ 行：情形 3「物流长时间停滞，疑似丢失」· 回复：引用的段落 'scope:9\.9' 不存在", error), error
    assert not [b for b in at.button if b.key == "apply"]
    assert snapshot(settings.index_dir) == index_before and snapshot(kb) == kb_before

    # A change after validation must be validated again before it can be published.
    at.text_input(key=f"pb_reply_cites::2::{key}").input("faq:LOG-009").run()
    assert "请重新校验" in at.info[0].value and not [b for b in at.button if b.key == "apply"]


def test_a_playbook_that_does_not_parse_sends_the_editor_to_the_raw_editor(kb, monkeypatch):
    monkeypatch.setenv("KEFU_EDITOR_PASSWORD", PASSWORD)
    at = login(ok(app().run()))
    (kb / LOST).write_text((kb / LOST).read_text(encoding="utf-8").replace("summary:", "sumary:"), encoding="utf-8")
    at.radio(key="edit_mode").set_value("处理手册表单").run()
    assert at.selectbox(key="pb_file").format_func(LOST) == f"{LOST}（无法解析）"
    at.selectbox(key="pb_file").set_value(LOST).run()
    ok(at)
    error = next(plain(e.value) for e in at.error if "处理手册现在无法解析" in e.value)  # (the documents tab lists it too)
    assert "编辑原文（高级）" in error and "sumary" in error
    assert not [b for b in at.button if b.key == "validate_playbook"]
    with pytest.raises(ValidationError):
        load_kb(kb)


def test_every_bad_item_of_a_playbook_is_reported_at_once(tiny_kb):
    p = tiny_kb / "playbooks" / "lost.yaml"
    text = p.read_text(encoding="utf-8")
    bad = (text.replace("        cites: [faq:T-002]\n      - text: 仍未", "        cites: []\n      - text: 仍未", 1)  # a step without cites
           .replace("    keywords: [破损, 破了, 压坏]\n", "")  # the second situation has no keywords
           .replace("  - text: 先询问家人、门卫或快递柜。\n    cites: [faq:T-002]", "  - text: 先询问家人、门卫或快递柜。"))  # nor this self-service item
    p.write_text(bad, encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        load_kb(tiny_kb)
    found = [(e.line, e.detail) for e in info.value.errors]
    assert len(found) == 3, found
    assert "'steps' 中有一项未引用任何段落" in found[0][1] and "缺少 keywords" in found[1][1] and "'self_service' 中有一项未引用" in found[2][1]
