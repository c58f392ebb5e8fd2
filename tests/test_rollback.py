"""Rollback undoes what the editor did: it returns to the version live before, and can put
the KB folder back to the files that version was built from, all at once."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from core.errors import IndexError_, KefuError
from index import versions as store
from ingest.pipeline import run_ingest
from kefu import Kefu
from kefu.cli import main

NEW_CSV = ("id,question,category,effective_date,source,answer\n"
           "CSV-9,冷链包裹能改地址吗,物流与配送问题,2026-01-01,测试,冷链包裹出库后不能改地址。\n")


@pytest.fixture
def s(settings, tiny_kb, monkeypatch):
    monkeypatch.setenv("KEFU_KB", str(tiny_kb))
    return settings.with_(kb_dir=tiny_kb)


def edit_faq(kb: Path, old: str, new: str) -> None:
    p = kb / "faqs" / "faq.yaml"
    p.write_text(p.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


def snapshot(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_every_version_keeps_the_kb_sources_it_was_built_from_checksummed(s):
    v = run_ingest(s).version
    copy = store.versions_dir(s.index_dir) / v / "kb" / "faqs" / "faq.yaml"
    assert copy.read_bytes() == (s.kb_dir / "faqs" / "faq.yaml").read_bytes()
    copy.write_bytes(copy.read_bytes().replace("理赔".encode(), "退款".encode()))
    with pytest.raises(IndexError_, match="kb/faqs/faq.yaml"):
        store.read_version(s.index_dir)


def test_rollback_returns_to_the_version_live_before_the_current_one(s):
    v1 = run_ingest(s).version
    edit_faq(s.kb_dir, "冻肉化了", "冻肉都化了")
    v2 = run_ingest(s).version
    assert main(["rollback"]) == 0 and store.current_version(s.index_dir) == v1
    edit_faq(s.kb_dir, "冷链坏了", "冷链全坏了")
    v3 = run_ingest(s).version
    assert v3 > v2
    assert main(["rollback"]) == 0
    assert store.current_version(s.index_dir) == v1  # not v2: that was never live before v3


def test_cli_rollback_says_when_the_kb_folder_differs_from_the_live_version(s, capsys):
    run_ingest(s)
    (s.kb_dir / "faqs" / "new.csv").write_text(NEW_CSV, encoding="utf-8")
    run_ingest(s)
    before = snapshot(s.kb_dir)
    assert main(["rollback"]) == 0
    err = capsys.readouterr().err
    assert "faqs/new.csv（新增）" in err and "kefu restore-kb" in err and "--restore-kb" in err
    assert snapshot(s.kb_dir) == before  # only said, nothing touched


def test_cli_rollback_restore_kb_puts_the_sources_back_so_a_reingest_publishes_nothing(s, capsys, tmp_path):
    v1 = run_ingest(s).version
    original = snapshot(s.kb_dir)
    (s.kb_dir / "README.md").write_text("# 编辑指南\n", encoding="utf-8")  # not KB content: carried over
    (s.kb_dir / "faqs" / "~$lock.xlsx").write_bytes(b"editor lock")
    (s.kb_dir / "faqs" / "new.csv").write_text(NEW_CSV, encoding="utf-8")
    edit_faq(s.kb_dir, "冻肉化了", "冻肉都化了")
    run_ingest(s)
    link = tmp_path / "kb-link"
    link.symlink_to(s.kb_dir, target_is_directory=True)  # a KB folder reached through a link stays a link
    assert main(["rollback", "--restore-kb", "--kb", str(link), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["to"] == v1 and report["kb_restored"] is True and report["kb_changes"] == []
    after = snapshot(s.kb_dir)
    assert {k: v for k, v in after.items() if k not in ("README.md", "faqs/~$lock.xlsx")} == original
    assert (s.kb_dir / "README.md").read_text(encoding="utf-8") == "# 编辑指南\n" and link.is_symlink()
    assert main(["ingest"]) == 0
    assert "知识库未变化" in capsys.readouterr().out
    assert not [p for p in s.kb_dir.parent.iterdir() if ".restore-" in p.name or ".old-" in p.name]


def test_restore_kb_after_a_plain_rollback(s, capsys):
    run_ingest(s)
    (s.kb_dir / "faqs" / "new.csv").write_text(NEW_CSV, encoding="utf-8")
    run_ingest(s)
    assert main(["rollback"]) == 0
    assert main(["restore-kb"]) == 0
    assert "faqs/new.csv" in capsys.readouterr().out and not (s.kb_dir / "faqs" / "new.csv").exists()
    assert Kefu(s).kb_changes() == ()


def test_a_restore_that_fails_midway_leaves_the_kb_folder_as_it_was(s, monkeypatch):
    run_ingest(s)
    (s.kb_dir / "faqs" / "new.csv").write_text(NEW_CSV, encoding="utf-8")
    edit_faq(s.kb_dir, "冻肉化了", "冻肉都化了")
    v2 = run_ingest(s).version
    before = snapshot(s.kb_dir)
    calls = []

    def flaky(path, data):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    from ingest import restore

    monkeypatch.setattr(restore, "_write", flaky)
    with pytest.raises(KefuError, match="No space left on device.*均未改变"):
        Kefu(s).rollback(restore_kb=True)
    assert snapshot(s.kb_dir) == before and store.current_version(s.index_dir) == v2
    assert not [p for p in s.kb_dir.parent.iterdir() if ".restore-" in p.name]


def test_facade_rollback_with_restore_removes_an_uploaded_file(s):
    kefu = Kefu(s)
    v1 = kefu.ingest().version
    kefu.apply(kefu.stage("faqs/new.csv", NEW_CSV.encode("utf-8")))
    assert {d.path: d.status for d in kefu.documents()}["faqs/new.csv"] == "live"
    r = kefu.rollback(restore_kb=True)
    assert r.version == v1 and r.kb_restored
    assert not (s.kb_dir / "faqs" / "new.csv").exists()
    assert "faqs/new.csv" not in {d.path for d in kefu.documents()}
    assert kefu.ingest().swapped is False


def test_what_a_killed_restore_left_beside_the_kb_is_removed_at_the_next_start(s):
    run_ingest(s)
    left = s.kb_dir.parent / f".{s.kb_dir.name}.restore-0badc0de"
    (left / "faqs").mkdir(parents=True)
    (left / "faqs" / "faq.yaml").write_text("half", encoding="utf-8")
    Kefu(s).ask("包裹丢了")
    assert not left.exists() and (s.kb_dir / "faqs" / "faq.yaml").is_file()
