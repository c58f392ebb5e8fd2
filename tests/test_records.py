"""The records database on SQLite (default) and on a real PostgreSQL server: migrations,
the question log, masking before anything is written."""

from __future__ import annotations

import stat

import pytest
import sqlalchemy as sa

from core.settings import load_settings
from kefu import Kefu
from records import db, questions
from records.schema import metadata


@pytest.fixture(autouse=True)
def _fresh_engines():
    yield
    db.dispose_all()


def _check_schema(settings) -> None:
    """Tables made by the migrations are exactly the tables the code declares."""
    from alembic import command

    eng = db.engine(settings)
    with eng.connect() as conn:
        command.check(db._alembic(conn))
    assert db.current_revision(eng) == "0002"
    assert set(sa.inspect(eng).get_table_names()) >= set(metadata.tables)


def test_default_is_sqlite_under_home_created_0600(settings):
    assert settings.db_url == f"sqlite:///{settings.home / 'kefu.db'}"
    _check_schema(settings)
    mode = stat.S_IMODE((settings.home / "kefu.db").stat().st_mode)
    assert mode == 0o600


@pytest.mark.postgres
def test_postgres_schema_from_migrations(postgres):
    _check_schema(load_settings())


def _log_and_read(settings) -> list[questions.LoggedQuestion]:
    log = questions.QuestionLog(settings)
    log.record(role="customer", question="手机13812345678，身份证 110101199003077777 的包裹丢了", route="case",
               case="包裹丢失或损毁", category="物流与配送问题", confidence=0.93, kb_version="v0001", latency_ms=17.5)
    log.record(role="agent", question="今天天气怎么样", route="refused", case=None, category=None,
               confidence=0.0, kb_version="v0001", latency_ms=12.0)
    log.close()
    return questions.recent(settings)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_question_log_is_masked_and_batched(request, backend):
    if backend == "postgres":
        request.getfixturevalue("postgres")
    settings = load_settings()
    rows = _log_and_read(settings)
    assert [r.route for r in rows] == ["refused", "case"]
    first = rows[1]
    assert "13812345678" not in first.question and "138****5678" in first.question
    assert "110101199003077777" not in first.question
    assert first.case == "包裹丢失或损毁" and first.kb_version == "v0001" and first.created_at.tzinfo is not None
    assert [r.question for r in questions.recent(settings, route="refused")] == ["今天天气怎么样"]


def test_kefu_logs_asked_questions_but_not_evaluation_runs(tiny_kb, monkeypatch):
    monkeypatch.setenv("KEFU_QUESTION_LOG", "1")
    kefu = Kefu(load_settings().with_(kb_dir=tiny_kb))
    kefu.ingest()
    a = kefu.ask("我的电话是 139 1234 5678，包裹丢了", "customer")
    kefu.ask("不记这一条", "agent", log=False)
    rows = kefu.logged_questions()
    assert len(rows) == 1 and "1234 5678" not in rows[0].question
    assert rows[0].kb_version == a.kb_version and rows[0].route == a.decision.route and rows[0].role == "customer"


def test_unreachable_database_is_one_clear_error(monkeypatch):
    from core.errors import ConfigError

    monkeypatch.setenv("KEFU_DATABASE_URL", "postgresql+psycopg://kefu@127.0.0.1:1/kefu")
    with pytest.raises(ConfigError, match="无法连接记录数据库"):
        db.engine(load_settings())


def test_feedback_of_earlier_versions_moves_into_the_records_database(settings):
    import sqlite3

    settings.home.mkdir(parents=True, exist_ok=True)
    legacy = settings.home / "feedback.db"
    with sqlite3.connect(legacy) as conn:
        conn.execute("CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL, role TEXT NOT NULL, "
                     "question TEXT NOT NULL, case_title TEXT, kb_version TEXT NOT NULL DEFAULT '', rating TEXT NOT NULL, "
                     "comment TEXT NOT NULL DEFAULT '')")
        conn.execute("INSERT INTO feedback (created_at, role, question, case_title, kb_version, rating, comment) "
                     "VALUES ('2026-11-20T08:00:00+00:00', 'agent', '包裹丢了', '包裹丢失或损毁', 'v0003', 'down', '步骤不对')")
    conn.close()
    from records import feedback

    rows = feedback.negative(settings)
    assert [(r.question, r.comment, r.created_at) for r in rows] == [("包裹丢了", "步骤不对", "2026-11-20T08:00:00+00:00")]
    assert not legacy.exists() and (settings.home / "feedback.db.imported").exists()
