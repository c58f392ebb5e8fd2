"""The `kefu` command as a newcomer meets it: the command list, usage per command, labelled
readable answers, a quiet end in a pipe, and `kefu serve` building before it serves."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from index import versions
from ingest.pipeline import run_ingest
from kefu import Kefu
from kefu.cli import main
from kefu.cli import serve as serve_cli
from kefu.cli.ask import render

KEFU = [sys.executable, "-m", "kefu.cli"]


def test_kefu_alone_lists_the_commands(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for command in ("serve", "ask", "ingest", "index", "rollback", "eval"):
        assert f"    {command} " in out
    assert "http://localhost:8501" in out and "error" not in out


def test_an_unknown_option_shows_the_usage_of_its_command(capsys):
    with pytest.raises(SystemExit) as info:
        main(["ingest", "--bogus"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.startswith("usage: kefu ingest [-h] [--kb KB] [--json]") and "--bogus" in err
    with pytest.raises(SystemExit):
        main(["ask", "你好", "--bogus"])
    assert capsys.readouterr().err.startswith("usage: kefu ask ")


def test_role_is_explained_in_the_help(capsys):
    with pytest.raises(SystemExit):
        main(["ask", "-h"])
    out = capsys.readouterr().out
    assert "agent：客服视角" in out and "customer：用户视角" in out


def test_a_reader_leaving_the_pipe_ends_quietly(settings, tiny_kb):
    run_ingest(settings.with_(kb_dir=tiny_kb))
    proc = subprocess.Popen([*KEFU, "index"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # `kefu index | head -0`: the reader is gone before the first line
    err = proc.stderr.read().decode()
    assert proc.wait() == 141 and "Traceback" not in err and "BrokenPipeError" not in err


def test_index_lists_what_still_holds_sample_content(settings, tiny_kb, capsys):
    p = tiny_kb / "faqs" / "faq.yaml"
    p.write_text(p.read_text(encoding="utf-8").replace("sample: false", "sample: true", 2), encoding="utf-8")
    run_ingest(settings.with_(kb_dir=tiny_kb))
    assert main(["index"]) == 0
    out = capsys.readouterr().out
    assert "仍含示例内容的 FAQ（上线前请按实际政策替换）：T-001、T-002" in out
    assert "引用示例内容的客服回复：包裹丢失或损毁 · 物流显示已签收，但用户没收到" in out


def test_the_readable_answer_labels_its_paragraphs_and_indents_citations(settings, tiny_kb):
    s = settings.with_(kb_dir=tiny_kb)
    run_ingest(s)
    text = render(Kefu(s).ask("显示签收没收到货", "agent"))
    lines = text.splitlines()
    for label in ("案例说明：", "答复：", "回复客户：", "处理路径：", "内部备注（仅客服可见）：", "引用："):
        assert label in lines, label
    assert lines[lines.index("答复：") + 1].startswith("    请先确认")
    assert any(line.startswith("情形：物流显示已签收，但用户没收到（按问题中的「签收」「没收到」）") for line in lines)
    # The FAQ citation holds a line break ("问：…\n答：…"): both of its lines stay indented.
    q = next(i for i, line in enumerate(lines) if line.strip().startswith("问：快递显示签收了"))
    assert lines[q].startswith("        问：") and lines[q + 1].startswith("        答：")
    customer = render(Kefu(s).ask("显示签收没收到货", "customer")).splitlines()
    assert "人工客服：" in customer and "回复客户：" not in customer and "内部备注（仅客服可见）：" not in customer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_builds_the_model_and_index_before_it_serves(settings, tiny_kb, monkeypatch, capsys):
    monkeypatch.setenv("KEFU_KB", str(tiny_kb))
    served = []

    def fake_run(options):
        # When the server would start, the index is already there and loaded.
        s = settings.with_(kb_dir=tiny_kb)
        served.append((options, versions.current_version(s.index_dir), Kefu.shared(s)._live is not None))
        return 0

    monkeypatch.setattr(serve_cli, "_run_streamlit", fake_run)
    port = _free_port()
    assert main(["serve", "--port", str(port)]) == 0
    options, live, loaded = served[0]
    assert live is not None and loaded
    assert options["server_port"] == port and options["client_toolbarMode"] == "minimal" and options["server_headless"] is True
    out = capsys.readouterr()
    assert f"http://localhost:{port}/agent" in out.out and f"http://localhost:{port}/customer" in out.out
    assert "KEFU_EDITOR_PASSWORD" in out.out and "首次启动：正在构建索引" in out.err


def test_serve_on_a_taken_port_says_so_before_building(settings, tiny_kb, monkeypatch, capsys):
    monkeypatch.setenv("KEFU_KB", str(tiny_kb))
    with socket.socket() as s:
        s.bind(("", 0))
        s.listen()
        assert main(["serve", "--port", str(s.getsockname()[1])]) == 1
    assert "已被占用" in capsys.readouterr().err and versions.current_version(settings.index_dir) is None
