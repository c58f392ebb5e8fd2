"""The records database: feedback, handoffs and the question log behind SQLAlchemy.

`KEFU_DATABASE_URL` names it (PostgreSQL for several replicas:
`postgresql+psycopg://user@host:5432/kefu`); by default it is SQLite in `KEFU_HOME/kefu.db`,
created readable by its owner only. The schema is made and upgraded by the Alembic
migrations in records/migrations/ the first time a process opens the database; replicas
starting together take turns (an advisory lock on PostgreSQL, a file lock on SQLite).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import stat
import threading
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from core.errors import ConfigError
from core.settings import Settings

MIGRATIONS = "records:migrations"
_LOCK_KEY = 0x6B656675  # "kefu": PostgreSQL advisory lock held while migrating
_engines: dict[str, Engine] = {}
_guard = threading.Lock()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands datetimes back without their zone; they were written in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _alembic(connection):
    from alembic.config import Config

    cfg = Config(stdout=io.StringIO())  # no alembic.ini: the migrations ship in the package
    cfg.set_main_option("script_location", MIGRATIONS)
    cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (a no-op when it is there)."""
    from alembic import command

    if engine.dialect.name == "sqlite":
        from filelock import FileLock

        lock = FileLock(str(Path(engine.url.database).with_suffix(".migrate.lock")))
        with lock, engine.begin() as conn:
            command.upgrade(_alembic(conn), "head")
        return
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        command.upgrade(_alembic(conn), "head")


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _sqlite_file(path: Path) -> None:
    """Create the database file 0600 before SQLite does (it would use the umask), and keep
    it so: SQLite gives its -wal and -shm files the database file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    if stat.S_IMODE(os.stat(path).st_mode) != 0o600:
        os.chmod(path, 0o600)


def keep_private(settings: Settings) -> None:
    """Before writing customers' words: an SQLite file loosened by hand or by a backup
    tool is made readable by its owner only again."""
    url = make_url(settings.db_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        _sqlite_file(Path(url.database))


def _import_legacy(engine: Engine, home_file: Path, table: sa.Table, old_table: str, keys: tuple[str, ...],
                   order: str = "") -> None:
    """Rows an earlier version stored in its own SQLite file under KEFU_HOME move into the
    records database once (the old file is kept as <name>.imported)."""
    if not home_file.is_file():
        return
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(home_file)) as old:
        try:
            rows = old.execute(f"SELECT {', '.join(keys)} FROM {old_table}{order}").fetchall()
        except sqlite3.Error:
            return  # not the database we expect: leave it alone
    values = []
    for row in rows:
        d = dict(zip(keys, row))
        try:
            d["created_at"] = as_utc(dt.datetime.fromisoformat(d["created_at"]))
        except (TypeError, ValueError):
            d["created_at"] = utcnow()
        values.append(d)
    with engine.begin() as conn:
        if values:
            conn.execute(sa.insert(table), values)
    home_file.rename(home_file.with_name(home_file.name + ".imported"))


def _import_legacy_feedback(engine: Engine, home_file: Path) -> None:
    from records.schema import feedback

    _import_legacy(engine, home_file, feedback, "feedback",
                   ("created_at", "role", "question", "case_title", "kb_version", "rating", "comment"))


def _import_legacy_handoffs(engine: Engine, home_file: Path) -> None:
    """Handoffs keep their reference numbers."""
    from records.schema import handoffs

    _import_legacy(engine, home_file, handoffs, "handoff",
                   ("ref", "day", "seq", "created_at", "team", "category", "case_title", "reason", "messages", "kb_version"),
                   order=" ORDER BY id")


def _create(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError(f"KEFU_DATABASE_URL={url!r} 无法解析：例如 postgresql+psycopg://用户@主机:5432/库名") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _sqlite_file(Path(parsed.database))
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")  # readers do not wait for the log writer
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    try:
        return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    except (ImportError, sa.exc.NoSuchModuleError) as e:
        raise ConfigError(f"KEFU_DATABASE_URL 需要数据库驱动（{e}）：PostgreSQL 请安装 pip install -e '.[scale]'") from None


def engine(settings: Settings) -> Engine:
    """The process's engine for the configured database, migrated on first use."""
    url = settings.db_url
    with _guard:
        eng = _engines.get(url)
        if eng is None:
            eng = _create(url)
            try:
                migrate(eng)
                if not settings.database_url:
                    _import_legacy_feedback(eng, settings.home / "feedback.db")
                    _import_legacy_handoffs(eng, settings.home / "handoff.db")
            except sa.exc.OperationalError as e:
                eng.dispose()
                raise ConfigError(f"无法连接记录数据库 {make_url(url).render_as_string(hide_password=True)}："
                                  f"{str(e.orig or e).strip().splitlines()[0]}。请检查 KEFU_DATABASE_URL 和数据库服务") from None
            _engines[url] = eng
        return eng


def dispose_all() -> None:
    """Close every pooled connection (tests; a process forking workers)."""
    with _guard:
        for eng in _engines.values():
            eng.dispose()
        _engines.clear()
