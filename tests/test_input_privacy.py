"""Every input path decodes with replacement and answers; personal data is masked (after
NFKC) before anything is stored, and the feedback database is private to its owner."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys

import pytest

from core.privacy import mask_personal_data
from ingest.pipeline import run_ingest
from kefu import Kefu


@pytest.fixture
def s(settings, tiny_kb, monkeypatch):
    monkeypatch.setenv("KEFU_KB", str(tiny_kb))
    s = settings.with_(kb_dir=tiny_kb)
    run_ingest(s)
    return s


def kefu_cli(*args, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kefu.cli", *args], input=stdin, capture_output=True, timeout=300)


# --- invalid UTF-8 ---------------------------------------------------------------------------------------


def test_an_argument_with_invalid_utf8_is_answered(s):
    run = kefu_cli("ask", "--json", b"\xffrefund")  # what `kefu ask --json "$(printf '\xffrefund')"` passes
    assert run.returncode == 0, run.stderr.decode("utf-8", "replace")
    answer = json.loads(run.stdout)
    assert answer["query"] == "\ufffdrefund" and answer["kb_version"]
    assert b"Traceback" not in run.stderr


def test_a_bad_line_in_batch_stdin_costs_at_most_its_own_answer(s):
    lines = ["包裹丢了怎么办".encode(), b"\xff\xfe\xc3(broken " + "快递".encode("gbk"), "冻肉化了".encode()]
    run = kefu_cli("ask", "--role", "customer", stdin=b"\n".join(lines) + b"\n")
    assert run.returncode == 0 and b"Traceback" not in run.stderr
    answers = [json.loads(line) for line in run.stdout.decode("utf-8").splitlines()]
    assert [a["query"][:4] for a in answers] == ["包裹丢了", "\ufffd\ufffd\ufffd(", "冻肉化了"]
    assert all(a["answer"] for a in answers)


def test_the_library_cleans_lone_surrogates_before_answering(s):
    answer = Kefu(s).ask("\udcffrefund \ud800包裹")
    assert "\ufffd" in answer.query and "包裹" in answer.query
    json.dumps(answer.to_json(), ensure_ascii=False).encode("utf-8")  # printable and storable as it is


# --- personal data ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, masked", [
    ("手机13812345678", "手机138****5678"),
    ("电话138-1234-5678，或 138 1234 5678", "电话138****5678，或 138****5678"),  # only what is masked changes
    ("电话１３８１２３４５６７８", "电话138****5678"),  # full-width digits
    ("tel:13812345678", "tel:138****5678"),
    ("tel:+86-138-1234-5678", "tel:+86 138****5678"),
    ("TEL13812345678", "TEL138****5678"),
    ("+8613812345678", "+86 138****5678"),
    ("座机 010-12345678", "座机 010-****5678"),
    ("邮箱 zhang.san@example.com 谢谢", "邮箱 z***@example.com 谢谢"),
    ("ＺＨＡＮＧ＠ＥＸＡＭＰＬＥ．ＣＯＭ", "Z***@EXAMPLE.COM"),  # full-width email
    ("身份证11010119900307123X", "身份证110101********123X"),
    ("身份证１１０１０１１９９００３０７１２３Ｘ", "身份证110101********123X"),
    ("卡号6222 0212 3456 7890 123", "卡号6222 **** **** 0123"),
    ("订单号 2345678，共 1999.00 元", "订单号 2345678，共 1999.00 元"),  # not personal: unchanged
    ("订单号JD2026112512345", "订单号JD2026112512345"),
])
def test_personal_data_is_masked_after_nfkc(text, masked):
    assert mask_personal_data(text) == masked


def test_feedback_is_stored_masked_in_a_database_only_its_owner_can_read(s):
    kefu = Kefu(s)
    kefu.feedback(role="customer", question="我的邮箱是 li@example.com，电话１３９１２３４５６７８", case=None,
                  kb_version="v1", rating="down", comment="tel:+86 139 1234 5678")
    db = s.feedback_db
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    raw = db.read_bytes()
    for secret in ("li@example.com", "１３９１２３４５６７８", "13912345678", "1234 5678"):
        assert secret.encode("utf-8") not in raw
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT question, comment FROM feedback").fetchone() == (
            "我的邮箱是 l***@example.com，电话139****5678", "tel:+86 139****5678")
    os.chmod(db, 0o644)  # loosened by hand or by a backup tool ...
    kefu.feedback(role="agent", question="好", case=None, kb_version="v1", rating="up")
    assert stat.S_IMODE(db.stat().st_mode) == 0o600  # ... and made private again on the next write
