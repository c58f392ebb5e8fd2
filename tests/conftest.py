"""Every test gets its own KEFU_HOME and the deterministic hash embedder unless it asks
for the real model; no test touches real data or depends on another test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.settings import DEFAULT_MODEL, load_settings

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def kefu_env(tmp_path, monkeypatch):
    for var in ("KEFU_KB", "KEFU_EDITOR_PASSWORD", "KEFU_QUERY_PROMPT", "KEFU_PASSAGE_PROMPT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KEFU_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KEFU_EMBEDDING_MODEL", "hash:256")
    # The calibrated thresholds are for the real model; the hash embedder answers everything.
    monkeypatch.setenv("KEFU_OOS_THRESHOLD", "1")
    monkeypatch.setenv("KEFU_MIN_EVIDENCE", "-9")
    monkeypatch.setenv("KEFU_LOCK_TIMEOUT", "0")
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
