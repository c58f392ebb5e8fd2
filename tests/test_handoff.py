"""Handing a customer's conversation to a human: a reference number people can read out,
the conversation stored with personal numbers masked, in a file only its owner can read."""

import datetime as dt
import re
import stat
import threading

import pytest

from core.errors import InputError
from core.types import Conversation
from ingest.pipeline import run_ingest
from kefu import Kefu
from records import handoff

MSG = handoff.HandoffMessage


def test_reference_numbers_count_per_day_and_the_file_is_private(settings):
    day = dt.datetime(2026, 11, 25, 9, 30, tzinfo=dt.UTC)
    refs = [handoff.record(settings, team="物流理赔组", category="物流与配送问题", case="包裹丢失或损毁", reason="",
                           messages=[MSG("包裹丢了", "请先确认……")], kb_version="v1", now=day + dt.timedelta(minutes=i)).ref
            for i in range(2)]
    local = day.astimezone().strftime("%Y%m%d")
    assert refs == [f"KF-{local}-0001", f"KF-{local}-0002"]
    next_day = handoff.record(settings, team="综合服务台", category=None, case=None, reason="", messages=[MSG("你好", "……")],
                              kb_version="v1", now=day + dt.timedelta(days=1))
    assert next_day.ref.endswith("-0001") and re.fullmatch(r"KF-\d{8}-\d{4}", next_day.ref)
    assert stat.S_IMODE(settings.feedback_db.stat().st_mode) == 0o600
    assert [h.ref for h in handoff.recent(settings)] == [next_day.ref, *reversed(refs)]
    assert handoff.get(settings, refs[0].lower()).team == "物流理赔组" and handoff.get(settings, "KF-19990101-0001") is None


def test_personal_numbers_are_masked_before_they_are_written(settings):
    h = handoff.record(settings, team="账户安全组", category="账户与安全问题", case=None, reason="电话 13812345678",
                       messages=[MSG("我的手机13812345678收不到验证码，卡号6222021234567890123", "……")], kb_version="v1")
    assert h.messages[0].question == "我的手机138****5678收不到验证码，卡号6222 **** **** 0123" and h.reason == "电话 138****5678"
    raw = settings.feedback_db.read_bytes()
    assert b"13812345678" not in raw and b"6222021234567890123" not in raw
    assert handoff.get(settings, h.ref) == h


def test_concurrent_handoffs_get_distinct_numbers(settings):
    refs: list[str] = []

    def one():
        refs.append(handoff.record(settings, team="综合服务台", category=None, case=None, reason="",
                                   messages=[MSG("你好", "……")], kb_version="v1").ref)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(refs)) == 8 and sorted(int(r[-4:]) for r in refs) == list(range(1, 9))


def test_a_conversation_goes_to_the_team_of_its_latest_answer(settings, tiny_kb):
    s = settings.with_(kb_dir=tiny_kb)
    run_ingest(s)
    kefu = Kefu(s)
    chat = Conversation()
    for q in ("你好", "显示签收没收到货", "我电话是13912345678，麻烦尽快"):
        chat = chat.add(q, kefu.ask(q, "customer"))
    h = kefu.handoff(chat)
    assert h.team == chat.turns[-1].answer.team and h.ref.startswith("KF-")
    assert [m.question for m in h.messages] == ["你好", "显示签收没收到货", "我电话是139****5678，麻烦尽快"]
    assert h.messages[1].answer == chat.turns[1].answer.answer and h.kb_version == chat.turns[-1].answer.kb_version
    assert kefu.handoffs()[0] == h

    out_of_scope = Kefu(s.with_(oos_threshold=0.0))
    h2 = out_of_scope.handoff(Conversation().add("今天天气怎么样", out_of_scope.ask("今天天气怎么样", "customer")))
    assert h2.team in ("综合服务台", "物流配送组", "订单服务组") and h2.reason == "知识库未覆盖该问题，需人工确认"
    with pytest.raises(InputError):
        kefu.handoff(Conversation())


@pytest.mark.postgres
def test_replicas_sharing_postgres_never_hand_out_one_number_twice(postgres, settings):
    """Several writers on one PostgreSQL (as replicas are): the day's numbers stay distinct."""
    refs: list[str] = []

    def one():
        refs.append(handoff.record(settings, team="综合服务台", category=None, case=None, reason="",
                                   messages=[MSG("电话 13912345678", "……")], kb_version="v1").ref)

    threads = [threading.Thread(target=one) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(int(r[-4:]) for r in refs) == list(range(1, 13))
    assert all(h.messages[0].question == "电话 139****5678" for h in handoff.recent(settings))


def test_handoffs_of_earlier_versions_move_into_the_records_database(settings):
    import sqlite3

    old = settings.home / "handoff.db"
    old.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(old) as conn:
        conn.executescript("""CREATE TABLE handoff (id INTEGER PRIMARY KEY AUTOINCREMENT, ref TEXT NOT NULL UNIQUE, day TEXT NOT NULL,
            seq INTEGER NOT NULL, created_at TEXT NOT NULL, team TEXT NOT NULL, category TEXT, case_title TEXT,
            reason TEXT NOT NULL DEFAULT '', messages TEXT NOT NULL, kb_version TEXT NOT NULL DEFAULT '');""")
        conn.execute("INSERT INTO handoff (ref, day, seq, created_at, team, category, case_title, reason, messages, kb_version) "
                     "VALUES ('KF-20261124-0007', '20261124', 7, '2026-11-24T08:00:00+00:00', '物流理赔组', NULL, '包裹丢失或损毁', '', "
                     "'[{\"question\": \"包裹丢了\", \"answer\": \"……\", \"case\": null}]', 'v1')")
    h = handoff.get(settings, "KF-20261124-0007")
    assert h.team == "物流理赔组" and h.messages[0].question == "包裹丢了" and h.created_at == "2026-11-24T08:00:00+00:00"
    assert not old.exists() and (settings.home / "handoff.db.imported").exists()
