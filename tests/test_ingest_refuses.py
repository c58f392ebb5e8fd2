"""What ingest must refuse: broken CSV quoting, links and special files, files in places
it never reads, spreadsheet formulas; and long unbroken text split so all of it is searchable."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from openpyxl import Workbook

from core.errors import ValidationError
from index import versions as store
from ingest.pipeline import run_ingest
from ingest.read import read_bytes
from ingest.split import MAX_CHUNK_CHARS, split_kb
from ingest.validate import load_kb
from kefu.cli import main

CSV_HEADER = "id,question,category,effective_date,source,answer\n"


def _error(kb: Path) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        load_kb(kb)
    assert "\n" not in str(info.value)
    return info.value


# --- CSV quoting ---------------------------------------------------------------------------------


def test_csv_quote_left_open_in_the_last_column_is_refused_and_nothing_is_published(settings, tiny_kb, capsys):
    # The reproduction: the open quote swallows the next row into the first FAQ's answer.
    (tiny_kb / "faqs" / "q.csv").write_text(
        CSV_HEADER + 'CSV-1,第一问能退吗,物流与配送问题,2026-01-01,测试,"第一答\n'
        "CSV-2,第二问,物流与配送问题,2026-01-01,测试,第二答\n", encoding="utf-8")
    err = _error(tiny_kb)
    assert (err.source, err.line) == ("faqs/q.csv", 2)
    assert "引号" in err.detail and "answer" in err.detail and "未闭合" in err.detail
    assert main(["ingest", "--kb", str(tiny_kb)]) == ValidationError.exit_code
    assert "faqs/q.csv 第 2 行" in capsys.readouterr().err
    assert store.current_version(settings.index_dir) is None


def test_csv_quote_left_open_in_a_middle_column_names_the_quote_not_a_missing_field(tiny_kb):
    (tiny_kb / "faqs" / "q.csv").write_text(
        CSV_HEADER + "CSV-1,第一问,物流与配送问题,2026-01-01,测试,第一答\n"
        'CSV-2,"第二问,物流与配送问题,2026-01-01,测试,第二答\n'
        "CSV-3,第三问,物流与配送问题,2026-01-01,测试,第三答\n", encoding="utf-8")
    err = _error(tiny_kb)
    assert (err.source, err.line) == ("faqs/q.csv", 3)
    assert "question" in err.detail and "引号" in err.detail and "缺失或为空" not in err.detail


def test_csv_quote_closed_by_a_later_row_is_refused(tiny_kb):
    # The stray quote pairs with the first quote of row 4, leaving text after it.
    (tiny_kb / "faqs" / "q.csv").write_text(
        CSV_HEADER + 'CSV-1,第一问,物流与配送问题,2026-01-01,测试,"第一答\n'
        "CSV-2,第二问,物流与配送问题,2026-01-01,测试,第二答\n"
        'CSV-3,第三问,物流与配送问题,2026-01-01,测试,"第三答"\n', encoding="utf-8")
    err = _error(tiny_kb)
    assert (err.source, err.line) == ("faqs/q.csv", 2) and "引号" in err.detail


def test_csv_quoted_multiline_answer_is_kept_and_later_rows_keep_their_own_line(tiny_kb):
    (tiny_kb / "faqs" / "q.csv").write_text(
        CSV_HEADER + 'CSV-1,第一问,物流与配送问题,2026-01-01,测试,"第一行\n第二行，含""引号"""\n'
        "CSV-2,第二问,物流与配送问题,2026-01-01,测试,第二答\n", encoding="utf-8")
    faqs = {f.id: f for f in load_kb(tiny_kb).faqs}
    assert faqs["CSV-1"].answer == '第一行\n第二行，含"引号"'
    assert (faqs["CSV-1"].line, faqs["CSV-2"].line) == (2, 4)  # physical lines, for error messages


# --- links, special files and bounded reads ------------------------------------------------------


def test_a_link_to_a_file_outside_the_kb_is_refused(tiny_kb):
    (tiny_kb / "docs").mkdir()
    (tiny_kb / "docs" / "passwd.md").symlink_to("/etc/passwd")
    err = _error(tiny_kb)
    assert err.source == "docs/passwd.md" and "知识库目录之外" in err.detail


def test_a_linked_folder_outside_the_kb_is_refused(tiny_kb, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "policy.md").write_text("# 政策\n\n外部内容。\n", encoding="utf-8")
    (tiny_kb / "docs").symlink_to(outside, target_is_directory=True)
    err = _error(tiny_kb)
    assert err.source == "docs/policy.md" and "知识库目录之外" in err.detail


def test_a_dangling_link_is_one_line_not_a_traceback(tiny_kb, capsys):
    (tiny_kb / "docs").mkdir()
    (tiny_kb / "docs" / "gone.md").symlink_to(tiny_kb / "docs" / "missing.md")
    err = _error(tiny_kb)
    assert err.source == "docs/gone.md" and "不存在" in err.detail
    assert main(["ingest", "--kb", str(tiny_kb)]) == ValidationError.exit_code
    assert "Traceback" not in capsys.readouterr().err


def test_a_link_to_a_file_inside_the_kb_is_read(tiny_kb):
    (tiny_kb / "docs").mkdir()
    (tiny_kb / "faqs" / ".shared.md").write_text("# 共享\n\n共享的政策段落。\n", encoding="utf-8")  # hidden: not read itself
    (tiny_kb / "docs" / "policy.md").symlink_to(tiny_kb / "faqs" / ".shared.md")
    assert any(p.text == "共享的政策段落。" and p.source == "docs/policy.md" for p in load_kb(tiny_kb).passages)


def _load_in_thread(kb: Path) -> BaseException | None:
    """load_kb with a deadline: a hang is a failure, not a stuck test run."""
    result: list = []

    def run():
        try:
            load_kb(kb)
            result.append(None)
        except BaseException as e:  # noqa: BLE001 - handed to the test
            result.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(20)
    assert result, "load_kb hung"
    return result[0]


def test_a_fifo_in_the_kb_is_refused_without_blocking(tiny_kb):
    (tiny_kb / "docs").mkdir()
    os.mkfifo(tiny_kb / "docs" / "pipe.md")
    err = _load_in_thread(tiny_kb)
    assert isinstance(err, ValidationError) and err.source == "docs/pipe.md" and "不是普通文件" in err.detail


def test_dev_zero_is_refused_without_reading_it():
    # In a child process with a deadline and a memory cap: an unbounded read must fail the test, not the machine.
    code = ("from pathlib import Path\nfrom ingest.read import read_bytes\n"
            "try:\n    read_bytes(Path('/dev/zero'), 'docs/zero.md', 10_000)\nexcept Exception as e:\n    print(e)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30)))
    assert "docs/zero.md" in run.stdout and "不是普通文件" in run.stdout


def test_reads_are_bounded_by_what_is_read_not_by_what_stat_says():
    # /proc files say size 0 and then return more: the bound must hold on the bytes read.
    with pytest.raises(ValidationError, match="上限"):
        read_bytes(Path("/proc/self/maps"), "docs/maps.md", 1_000)


def test_a_link_to_dev_zero_in_the_cli_is_refused_quickly(tiny_kb, tmp_path):
    (tiny_kb / "docs").mkdir()
    (tiny_kb / "docs" / "zero.md").symlink_to("/dev/zero")
    run = subprocess.run([sys.executable, "-m", "kefu.cli", "ingest", "--kb", str(tiny_kb)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == ValidationError.exit_code
    assert "docs/zero.md" in run.stderr and "Traceback" not in run.stderr


# --- files ingest never reads ---------------------------------------------------------------------


@pytest.mark.parametrize("rel, where", [
    ("notes.md", "docs/"),
    ("misc/extra.yaml", "faqs/"),
    ("docs/sub/policy.md", "docs/"),
    ("faqs/old/faq.csv", "faqs/"),
])
def test_a_file_where_ingest_never_looks_is_refused_with_where_it_belongs(tiny_kb, rel, where):
    path = tiny_kb / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("- id: G-1\n  question: 退货运费谁出\n".encode("gbk"))  # GBK: once "知识库未变化"
    err = _error(tiny_kb)
    assert err.source == rel and where in err.detail and "README" in err.detail


def test_hidden_and_editor_temp_files_and_the_guide_are_skipped(tiny_kb):
    before = load_kb(tiny_kb).files
    (tiny_kb / "README.md").write_text("# 编辑指南\n", encoding="utf-8")
    (tiny_kb / ".DS_Store").write_bytes(b"\x00\x01")
    (tiny_kb / "faqs" / "~$faq.xlsx").write_bytes(b"lock")
    (tiny_kb / "faqs" / "faq.yaml~").write_text("backup", encoding="utf-8")
    (tiny_kb / "faqs" / "#faq.yaml#").write_text("autosave", encoding="utf-8")
    (tiny_kb / ".git").mkdir()
    (tiny_kb / ".git" / "config").write_text("x", encoding="utf-8")
    (tiny_kb / "empty_folder").mkdir()  # nothing in it can vanish
    assert load_kb(tiny_kb).files == before


# --- formula cells ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["=HYPERLINK(\"http://x\")", "+1+2", "-2+3", "@SUM(A1)"])
def test_a_csv_cell_a_spreadsheet_would_run_as_a_formula_is_refused_with_the_cell_named(tiny_kb, cell):
    (tiny_kb / "faqs" / "q.csv").write_text(
        CSV_HEADER + f"CSV-1,第一问,物流与配送问题,2026-01-01,测试,第一答\nCSV-2,第二问,物流与配送问题,2026-01-01,测试,{cell}\n",
        encoding="utf-8")
    err = _error(tiny_kb)
    assert (err.source, err.line) == ("faqs/q.csv", 3) and "answer" in err.detail and "公式" in err.detail


def test_a_leading_apostrophe_marks_a_csv_cell_as_plain_text(tiny_kb):
    (tiny_kb / "faqs" / "q.csv").write_text(
        CSV_HEADER + "CSV-1,第一问,物流与配送问题,2026-01-01,测试,'-5 元的券不能叠加使用。\n", encoding="utf-8")
    faq = next(f for f in load_kb(tiny_kb).faqs if f.id == "CSV-1")
    assert faq.answer == "-5 元的券不能叠加使用。"


def _sheet(rows) -> Workbook:
    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    return wb


def test_an_xlsx_formula_cell_is_refused_with_the_cell_named(tiny_kb):
    wb = _sheet([CSV_HEADER.strip().split(","), ["X-1", "问", "物流与配送问题", "2026-01-01", "测试", "=1+1"]])
    wb.save(tiny_kb / "faqs" / "sheet.xlsx")
    err = _error(tiny_kb)
    assert (err.source, err.line) == ("faqs/sheet.xlsx", 2) and "F2" in err.detail and "公式" in err.detail


def test_an_xlsx_text_cell_starting_like_a_formula_needs_the_text_mark(tiny_kb):
    wb = _sheet([CSV_HEADER.strip().split(","), ["X-1", "问", "物流与配送问题", "2026-01-01", "测试", "@客服 请看"]])
    wb.save(tiny_kb / "faqs" / "sheet.xlsx")
    assert "F2" in _error(tiny_kb).detail
    wb.active["F2"].quotePrefix = True  # what Excel records when one types '@客服 请看
    wb.save(tiny_kb / "faqs" / "sheet.xlsx")
    assert next(f for f in load_kb(tiny_kb).faqs if f.id == "X-1").answer == "@客服 请看"


# --- long unbroken text -----------------------------------------------------------------------------


def test_a_1mb_line_without_punctuation_is_split_into_bounded_chunks_covering_every_character(settings, tiny_kb):
    line = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(350_000))  # ~1 MB of UTF-8, no sentence end
    assert len(line.encode("utf-8")) >= 1_000_000
    (tiny_kb / "docs").mkdir()
    (tiny_kb / "docs" / "long.md").write_text(f"# 长文\n\n{line}\n", encoding="utf-8")
    kb = load_kb(tiny_kb, max_file_bytes=2_000_000)
    pieces = [c for c in split_kb(kb) if c.source == "docs/long.md"]
    assert max(len(c.text) for c in pieces) <= MAX_CHUNK_CHARS
    assert "".join(c.text for c in pieces) == line
    assert len({c.key for c in pieces}) == len(pieces)
    report = run_ingest(settings.with_(kb_dir=tiny_kb))
    assert report.chunks == len(split_kb(kb))


def test_the_editor_reads_kb_files_with_the_same_checks(settings, tiny_kb):
    from kefu import Kefu

    kefu = Kefu(settings.with_(kb_dir=tiny_kb))
    assert kefu.read_kb_file("faqs/faq.yaml") == (tiny_kb / "faqs" / "faq.yaml").read_bytes()
    (tiny_kb / "docs").mkdir()
    (tiny_kb / "docs" / "passwd.md").symlink_to("/etc/passwd")
    with pytest.raises(ValidationError, match="知识库目录之外"):
        kefu.read_kb_file("docs/passwd.md")
    with pytest.raises(ValidationError, match="知识库目录之内"):
        kefu.read_kb_file("../outside.md")
