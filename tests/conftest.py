"""Every test gets its own KEFU_HOME and the deterministic hash embedder unless it asks
for the real model; no test touches real data or depends on another test."""

from __future__ import annotations

import os
import shutil
import uuid
import warnings
from pathlib import Path

import pytest

from core.settings import DEFAULT_MODEL, load_settings

DATA = Path(__file__).parent / "data"
# Before torch loads: CI machines are shared, and OpenMP threads spin-waiting for a busy core
# turned the model tests' 20 ms encodes into seconds (README "Scaling out").
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def kefu_env(tmp_path, monkeypatch):
    for var in ("KEFU_KB", "KEFU_EDITOR_PASSWORD", "KEFU_QUERY_PROMPT", "KEFU_PASSAGE_PROMPT", "KEFU_VECTOR_STORE",
                "KEFU_MILVUS_URI", "KEFU_MILVUS_TOKEN", "KEFU_MILVUS_PREFIX", "KEFU_DATABASE_URL", "KEFU_API_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KEFU_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KEFU_EMBEDDING_MODEL", "hash:256")
    # The calibrated thresholds are for the real model; the hash embedder answers everything.
    monkeypatch.setenv("KEFU_OOS_THRESHOLD", "1")
    monkeypatch.setenv("KEFU_MIN_EVIDENCE", "-9")
    monkeypatch.setenv("KEFU_LOCK_TIMEOUT", "0")
    monkeypatch.setenv("KEFU_QUESTION_LOG", "0")  # on in the tests of the log itself
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


@pytest.fixture
def tiny_kb(tmp_path) -> Path:
    """A writable copy of the tiny test KB."""
    dst = tmp_path / "kb"
    shutil.copytree(DATA / "kb", dst)
    return dst


@pytest.fixture
def shipped_kb(tmp_path) -> Path:
    """A writable copy of the shipped KB."""
    dst = tmp_path / "shipped_kb"
    shutil.copytree(REPO / "kb", dst)
    return dst


@pytest.fixture
def kb(shipped_kb, monkeypatch) -> Path:
    """The app's KB: a writable copy of the shipped one."""
    monkeypatch.setenv("KEFU_KB", str(shipped_kb))
    return shipped_kb


@pytest.fixture
def fresh_cache():
    """Streamlit's resource cache (the Kefu behind the pages) emptied around an app test."""
    import streamlit as st

    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


@pytest.fixture
def settings():
    return load_settings()


@pytest.fixture(scope="session")
def real_model_dir(tmp_path_factory) -> Path:
    """The built-in model, converted once per test session."""
    from models.build import ensure_default_model

    return ensure_default_model(tmp_path_factory.mktemp("models"))


@pytest.fixture
def real_settings(monkeypatch, real_model_dir):
    """Settings for the real model, reusing the session's converted copy."""
    monkeypatch.setenv("KEFU_EMBEDDING_MODEL", DEFAULT_MODEL)
    monkeypatch.delenv("KEFU_OOS_THRESHOLD")
    s = load_settings()
    target = s.models_dir / real_model_dir.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(real_model_dir, target_is_directory=True)
    return s


@pytest.fixture(scope="session")
def real_index(tmp_path_factory, real_model_dir):
    """Settings whose KEFU_HOME holds the shipped KB ingested with the real model (once per session)."""
    from core.settings import Settings
    from ingest.pipeline import run_ingest

    home = tmp_path_factory.mktemp("real_home")
    (home / "models").mkdir()
    (home / "models" / real_model_dir.name).symlink_to(real_model_dir, target_is_directory=True)
    s = Settings(home=home, kb_dir=REPO / "kb", embedding_model=DEFAULT_MODEL, lock_timeout=0).validated()
    run_ingest(s)
    return s


@pytest.fixture(scope="session")
def real_service(real_index):
    from kefu import Kefu

    kefu = Kefu(real_index)
    kefu.warmup()
    return kefu


# --- servers: started by scripts/services.sh (CI: .ci/run), never mocked ---------------------------


def _server(var: str, what: str) -> str:
    value = os.environ.get(var, "")
    if not value:
        msg = (f"{var} is not set: this test needs a {what} server. Run the tests under "
               f"`bash scripts/services.sh run -- .venv/bin/python -m pytest ...` (CI does, via .ci/run)")
        if os.environ.get("CI"):
            pytest.fail(msg)  # in CI a missing server is a broken run, not a skip
        pytest.skip(msg)
    return value


@pytest.fixture
def milvus(monkeypatch):
    """Settings pointing the vector store at the test Milvus server, in collections of a
    prefix of this test's own (dropped afterwards)."""
    uri = _server("KEFU_TEST_MILVUS_URI", "Milvus")
    prefix = f"t{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("KEFU_VECTOR_STORE", "milvus")
    monkeypatch.setenv("KEFU_MILVUS_URI", uri)
    monkeypatch.setenv("KEFU_MILVUS_PREFIX", prefix)
    yield uri
    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    # Tidying a throwaway server: a connection it has just dropped (Milvus Lite answers
    # pymilvus's keepalive pings with "too many pings") must not fail the test that passed.
    try:
        client = MilvusClient(uri=uri)
        for alias in client.list_aliases().get("aliases", []):
            if alias.startswith(prefix):
                client.drop_alias(alias)
        for name in client.list_collections():
            if name.startswith(prefix):
                client.drop_collection(name)
        client.close()
    except MilvusException as e:
        warnings.warn(f"test collections {prefix}* left on the test Milvus server: {e}", stacklevel=1)


@pytest.fixture
def postgres_url():
    """The URL of a fresh database on the test PostgreSQL server (dropped afterwards)."""
    import sqlalchemy as sa

    admin_url = _server("KEFU_TEST_POSTGRES_URL", "PostgreSQL")
    name = f"kefu_t{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    from records import db

    db.dispose_all()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def postgres(monkeypatch, postgres_url):
    monkeypatch.setenv("KEFU_DATABASE_URL", postgres_url)
    return postgres_url
