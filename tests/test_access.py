"""Who reaches what: editor passwords are slowed down and locked out, customers reach only
self-service when an agent password is set, and the evaluation is for editors and runs in a
background process that does not stall anyone's questions."""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import access
from core.settings import load_settings
from eval import background
from kefu.cli import main
from tests.test_app import app, ok

pytestmark = pytest.mark.usefixtures("fresh_cache")
REPO = Path(__file__).resolve().parent.parent
EDITOR = "editor-s3cret"
AGENT = "agent-s3cret"
QUESTION = "物流显示签收了但我没收到"


def try_password(at: AppTest, form: str, password: str) -> AppTest:
    at.text_input(key=f"{form}_pw").input(password)
    at.button(key=f"{form}_login_btn").click().run()
    return ok(at)


# --- editor password ------------------------------------------------------------------------------------


def test_wrong_editor_passwords_are_slowed_down_then_locked_out_and_logged(kb, monkeypatch, caplog):
    monkeypatch.setenv("KEFU_EDITOR_PASSWORD", EDITOR)
    waits, clock = [], [1000.0]
    monkeypatch.setattr(access, "_sleep", waits.append)
    monkeypatch.setattr(access, "_now", lambda: clock[0])
    at = ok(app().run())
    at.switch_page("kefu/web/editor.py").run()
    caplog.set_level(logging.WARNING, logger="kefu.access")
    for n in range(1, 6):
        try_password(at, "editor", f"guess-{n}")
    assert waits == [0.0, 1.0, 2.0, 4.0]  # slower after each failure, then ...
    assert "已暂时锁定" in at.error[0].value  # ... locked out
    try_password(at, "editor", EDITOR)  # the right one is not even checked while locked
    assert "已暂时锁定" in at.error[0].value and not at.dataframe
    failures = [r.getMessage() for r in caplog.records if r.name == "kefu.access"]
    assert len(failures) == 6 and "5 in a row" in failures[4] and "locked out" in failures[5]
    assert not any("guess-" in m or EDITOR in m for m in failures)  # logged without the password
    clock[0] += access.LOCK_SECONDS + 1
    try_password(at, "editor", EDITOR)
    assert at.dataframe and not at.error  # after the lockout the right password works


def test_the_lockout_follows_the_address_not_only_the_session(monkeypatch):
    monkeypatch.setattr(access, "_sleep", lambda seconds: None)
    guard = access.LoginGuard()
    calls = []
    for n in range(access.MAX_FAILURES):
        calls.append(guard.attempt("x", {"editor": EDITOR}, (f"session:{n}", "address:203.0.113.7")))
    assert calls[-1].locked_for > 0
    assert guard.attempt(EDITOR, {"editor": EDITOR}, ("session:new-tab", "address:203.0.113.7")).locked_for > 0
    assert guard.attempt(EDITOR, {"editor": EDITOR}, ("session:elsewhere", "address:198.51.100.2")).ok


# --- agent password ----------------------------------------------------------------------------------------


def test_with_an_agent_password_customers_reach_only_self_service(kb, monkeypatch):
    monkeypatch.setenv("KEFU_AGENT_PASSWORD", AGENT)
    monkeypatch.setenv("KEFU_EDITOR_PASSWORD", EDITOR)
    monkeypatch.setattr(access, "_sleep", lambda s: None)
    at = ok(app().run())
    assert at.chat_input and not [t for t in at.text_area if t.key == "agent_q"]  # self-service is the start page
    for page in ("kefu/web/agent.py", "kefu/web/editor.py", "kefu/web/evaluation.py"):
        with pytest.raises(ValueError):
            at.switch_page(page)  # not registered: no URL leads there
    at.switch_page("kefu/web/login.py").run()
    try_password(at, "agent", "wrong")
    assert "密码不正确" in at.error[0].value
    try_password(at, "agent", AGENT)
    at.switch_page("kefu/web/agent.py").run()
    at.text_area(key="agent_q").input(QUESTION)
    at.button(key="agent_submit").click().run()
    assert any("内部备注（仅客服可见）" in m.value for m in ok(at).markdown)


def test_without_an_agent_password_staff_pages_are_for_this_machine_only(kb, monkeypatch):
    at = ok(app().run())
    assert at.text_area(key="agent_q")  # zero setup on this machine: the agent desk as before
    monkeypatch.setattr("kefu.web.common.client_address", lambda: "203.0.113.7")
    at = ok(app().run())
    with pytest.raises(ValueError):
        at.switch_page("kefu/web/agent.py")
    at.switch_page("kefu/web/login.py").run()
    assert "KEFU_AGENT_PASSWORD" in ok(at).info[0].value


def test_kefu_serve_listens_on_this_machine_only_without_an_agent_password(monkeypatch, capsys):
    from kefu.cli import serve as serve_cli

    calls = []
    monkeypatch.setattr(serve_cli, "_run_streamlit", lambda options: calls.append(options) or 0)
    with socket.socket() as s:  # a free port: the real default may be taken on a shared machine
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    assert main(["serve", "--port", port]) == 0
    assert calls[-1]["server_address"] == "127.0.0.1"
    assert "KEFU_AGENT_PASSWORD" in capsys.readouterr().err
    monkeypatch.setenv("KEFU_AGENT_PASSWORD", AGENT)
    assert main(["serve", "--port", port]) == 0 and "server_address" not in calls[-1]


# --- evaluation ----------------------------------------------------------------------------------------------


REPORT = {
    "systems": {"kefu": {"hit@1": 0.9, "hit@3": 0.95, "hit@5": 0.97, "mrr": 0.93, "category_acc": 0.96, "oos_refusal": 0.8,
                         "false_refusal": 0.02, "latency_p50_ms": 12.0, "latency_p95_ms": 30.0}},
    "per_category": {"kefu": {"物流与配送问题": {"n": 10, "hit@1": 0.9, "hit@3": 1.0, "category_acc": 1.0}}},
    "misses": [{"id": "d1", "query": "快递呢", "gold": "订单状态查询", "predicted": "（拒答）", "system": "kefu"}],
    "n": {"rows": 10, "in_scope": 9, "out_of_scope": 1},
}


def plain_text(at) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "error", "success") for e in getattr(at, kind)]
    return re.sub(r"\\(.)", r"\1", "\n".join(str(p) for p in parts))


def fake_eval(release: Path, seen: list):
    """A stand-in for `kefu eval --json`: says where it is, waits to be released, prints a report."""
    code = ("import json, os, sys, time, pathlib\n"
            "print('· 系统：kefu,bm25', file=sys.stderr, flush=True)\n"
            "print('· kefu：5/10', file=sys.stderr, flush=True)\n"
            f"pathlib.Path({str(release)!r} + '.tmp').write_text(str(os.getpid()))\n"
            f"os.replace({str(release)!r} + '.tmp', {str(release)!r} + '.pid')\n"  # whole, never half-written
            f"while not pathlib.Path({str(release)!r}).exists(): time.sleep(0.05)\n"
            f"print({json.dumps(REPORT, ensure_ascii=False)!r})\n")
    return lambda settings, systems=(), devset=None: seen.append((settings, devset)) or [sys.executable, "-c", code]


def test_the_evaluation_page_is_for_editors(kb, monkeypatch):
    at = ok(app().run())
    at.switch_page("kefu/web/evaluation.py").run()
    assert "只对编辑开放" in ok(at).info[0].value and not [b for b in at.button if b.key == "eval_run"]


def test_the_evaluation_runs_in_a_background_process_while_questions_are_answered(kb, monkeypatch, tmp_path):
    monkeypatch.setenv("KEFU_EDITOR_PASSWORD", EDITOR)
    release = tmp_path / "release"
    seen = []
    monkeypatch.setattr(background, "command", fake_eval(release, seen))
    at = ok(app().run())
    at.switch_page("kefu/web/editor.py").run()
    try_password(at, "editor", EDITOR)
    at.switch_page("kefu/web/evaluation.py").run()
    at.button(key="eval_run").click().run()
    ok(at)
    assert [s.label for s in at.status][0].startswith("正在后台评测") and at.button(key="eval_run").disabled
    deadline = time.monotonic() + 30
    while not at.get("progress") and time.monotonic() < deadline:
        time.sleep(0.2)
        at.run()
    # One bar per system: Kefu half way, BM25 not started.
    bars = [(b.proto.text, b.proto.value) for b in at.get("progress")]
    assert bars == [("Kefu（本系统）：5/10", 50), ("BM25：等待中", 0)], bars
    deadline = time.monotonic() + 30
    while not Path(str(release) + ".pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(Path(str(release) + ".pid").read_text())
    assert child != os.getpid() and os.getpriority(os.PRIO_PROCESS, child) >= os.getpriority(os.PRIO_PROCESS, 0) + background.NICE

    at.switch_page("kefu/web/agent.py").run()  # while it runs, questions are answered
    at.text_area(key="agent_q").input(QUESTION)
    at.button(key="agent_submit").click().run()
    assert [h.value for h in ok(at).subheader] == ["包裹丢失或损毁"]

    release.touch()
    at.switch_page("kefu/web/evaluation.py").run()
    deadline = time.monotonic() + 30
    while not at.dataframe and time.monotonic() < deadline:
        time.sleep(0.2)
        at.run()
    table = ok(at).dataframe[0].value
    assert list(table.index) == ["Kefu（本系统）"] and table.loc["Kefu（本系统）", "延迟 P95 (ms)"] == 30.0
    chart = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert chart["mark"]["type"] == "bar" and list(at.dataframe[1].value["问题"]) == ["快递呢"]
    assert seen[0] == (load_settings(), None)  # the app's own settings, handed to the child; the dev set
    assert "开发集 devset.jsonl" in plain_text(at)

    # The report is kept: a new browser session (after a restart too) finds it without running again.
    later = ok(app().run())
    later.switch_page("kefu/web/editor.py").run()
    try_password(later, "editor", EDITOR)
    later.switch_page("kefu/web/evaluation.py").run()
    ok(later)
    assert later.dataframe[0].value.loc["Kefu（本系统）", "延迟 P95 (ms)"] == 30.0
    assert later.selectbox(key="eval_saved").options[0].startswith("开发集 devset.jsonl · ")


def test_the_evaluation_runs_on_a_real_message_set_and_keeps_both_reports(kb, monkeypatch, tmp_path):
    monkeypatch.setenv("KEFU_EDITOR_PASSWORD", EDITOR)
    release = tmp_path / "release"
    release.touch()  # no need to hold the child
    seen = []
    command = background.command
    monkeypatch.setattr(background, "command", fake_eval(release, seen))
    real = tmp_path / "real.tsv"
    real.write_text("query\tgold\tcategories\tkind\n快递呢\t订单状态查询\t订单相关问题\treal\n", encoding="utf-8")
    settings = load_settings()
    background.save_report(settings, {**REPORT, "set": "eval/devset.jsonl", "set_kind": "dev", "finished_at": "2026-01-01 08:00"})
    at = ok(app().run())
    at.switch_page("kefu/web/editor.py").run()
    try_password(at, "editor", EDITOR)
    at.switch_page("kefu/web/evaluation.py").run()
    at.text_input(key="eval_set").input(str(tmp_path / "missing.tsv"))
    at.button(key="eval_run").click().run()
    assert "找不到评测集文件" in ok(at).error[0].value and not seen
    at.text_input(key="eval_set").input(str(real))
    at.button(key="eval_run").click().run()
    deadline = time.monotonic() + 30
    while "真实消息集" not in plain_text(at) and time.monotonic() < deadline:
        time.sleep(0.2)
        at.run()
    assert seen == [(settings, str(real))]  # handed to `kefu eval --set`
    assert "真实消息集 real.tsv：10 条" in plain_text(at)
    assert command(settings, (), str(real))[-2:] == ["--set", str(real)]
    # Both sets' last reports are kept, newest first.
    assert [r["set_kind"] for r in background.saved_reports(settings)] == ["real", "dev"]
