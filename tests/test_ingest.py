"""The ingestion pipeline: versions, incremental embedding, atomic swap, rollback, refusal."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import BusyError, IndexError_, ValidationError
from index import versions as store
from index.rollback import rollback
from index.store import FileVersions
from ingest.pipeline import run_ingest
from kefu.cli import main


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under the index folder with its content hash (the lock file aside)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"
    }


@pytest.fixture
def s(settings, tiny_kb):
    return settings.with_(kb_dir=tiny_kb)


def test_first_ingest_builds_a_complete_version(s):
    report = run_ingest(s)
    assert report.swapped and report.embedded == report.chunks > 0 and report.reused == 0
    v = store.read_version(s.index_dir)
    assert v.name == report.version == store.current_version(s.index_dir)
    m = v.manifest
    assert m.model == "hash:256" and m.dimension == 256 and m.normalized is True and m.version == v.name
    assert m.counts == {"chunks": report.chunks, "faqs": 3, "playbooks": 1, "cases": 4, "questions": 9, "out_of_scope_examples": 0, "embedded": report.chunks}
    lost = next(c for c in v.chunks if c.passage == "scope:2.1")
    assert lost.section == "二、物流与配送问题 > 1.包裹丢失或损毁"
    assert lost.embed_text.startswith(lost.section)
    assert (lost.case, lost.category, lost.kb_version, lost.source) == ("包裹丢失或损毁", "物流与配送问题", v.name, "service_scope.md")
    faq = next(c for c in v.chunks if c.passage == "faq:T-003")
    assert faq.text.endswith("客服会协助取证并决定补偿或重发。") and faq.questions[0] == "冷冻食品到货时已经化了怎么办？"
    # The folder holds exactly the checksummed files (JSON, JSONL, .npy/.npz, FAISS, the KB sources): no pickle anywhere.
    on_disk = sorted(p.relative_to(v.path).as_posix() for p in v.path.rglob("*") if p.is_file())
    assert on_disk == sorted(["manifest.json", *m.files])
    assert {f.rsplit(".", 1)[1] for f in m.files if not f.startswith("kb/")} == {"faiss", "npy", "npz", "jsonl", "json"}
    assert {f for f in m.files if f.startswith("kb/")} == {f"kb/{rel}" for rel in m.kb_files} and len(m.kb_files) == 6


def test_unchanged_kb_embeds_nothing_and_keeps_the_live_version(s):
    first = run_ingest(s)
    second = run_ingest(s)
    assert second.embedded == 0 and second.swapped is False and second.version == first.version


def test_changing_one_faq_reembeds_only_its_chunk(s):
    first = run_ingest(s)
    p = s.kb_dir / "faqs" / "faq.yaml"
    p.write_text(p.read_text(encoding="utf-8").replace("联系人工客服启动理赔调查。", "联系人工客服，由物流理赔组调查。"), encoding="utf-8")
    report = run_ingest(s)
    assert report.embedded == 1 and report.reused == report.chunks - 1
    assert (report.added, report.changed, report.removed) == (0, 1, 0)
    assert report.documents[0].source == "faqs/faq.yaml" and report.documents[0].changed == ["faq:T-002"]
    assert report.previous == first.version != report.version


def test_failed_ingest_leaves_the_live_index_byte_identical(s):
    run_ingest(s)
    before = snapshot(s.index_dir)
    (s.kb_dir / "faqs" / "gbk.yaml").write_bytes("- id: G-1\n  question: 退货运费谁出\n".encode("gbk"))
    with pytest.raises(ValidationError, match="GBK"):
        run_ingest(s)
    assert snapshot(s.index_dir) == before


def test_rollback_returns_to_the_previous_version(s):
    first = run_ingest(s)
    p = s.kb_dir / "faqs" / "faq.yaml"
    p.write_text(p.read_text(encoding="utf-8").replace("冻肉化了", "冻肉都化了"), encoding="utf-8")
    second = run_ingest(s)
    target = rollback(FileVersions(s.index_dir), s.embedding_model)
    assert (target.previous, target.version) == (second.version, first.version)
    assert store.read_version(s.index_dir).name == first.version
    with pytest.raises(IndexError_, match="没有更早的完整索引版本"):
        rollback(FileVersions(s.index_dir), s.embedding_model)


def test_old_versions_are_pruned(s):
    s = s.with_(keep_versions=2)
    p = s.kb_dir / "faqs" / "faq.yaml"
    names = []
    for i in range(4):
        p.write_text(p.read_text(encoding="utf-8").replace("冻肉化了", f"冻肉化了{i}").replace(f"冻肉化了{i - 1}", f"冻肉化了{i}"), encoding="utf-8")
        names.append(run_ingest(s).version)
    assert store.list_versions(s.index_dir) == names[-2:]


def test_loading_refuses_an_index_built_by_another_model(s):
    run_ingest(s)
    with pytest.raises(IndexError_, match="kefu ingest"):
        store.read_version(s.index_dir, expected_model="another-model")


def test_corrupted_index_gives_a_clear_error(s):
    report = run_ingest(s)
    (s.index_dir / "versions" / report.version / "index.faiss").write_bytes(b"garbage")
    with pytest.raises(IndexError_, match="已损坏"):
        store.read_version(s.index_dir)


def test_a_second_ingest_stops_while_the_first_holds_the_lock(s):
    with store.ingest_lock(s.index_dir, timeout=0):
        code = subprocess.run(
            [sys.executable, "-m", "kefu.cli", "ingest", "--kb", str(s.kb_dir)],
            env={**os.environ, "KEFU_LOCK_TIMEOUT": "0"}, capture_output=True, text=True,
        )
    assert code.returncode == BusyError.exit_code
    assert "另一个入库任务在运行" in code.stderr and "Traceback" not in code.stderr
    assert store.current_version(s.index_dir) is None


def test_cli_ingest_json_and_index_json(s, capsys):
    assert main(["ingest", "--kb", str(s.kb_dir), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary) >= {"version", "chunks", "embedded", "reused", "added", "changed", "removed", "seconds"}
    assert summary["embedded"] == summary["chunks"] == summary["added"]
    assert main(["index", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["version"] == summary["version"] and status["faqs"] == 3 and status["playbooks"] == 1
    assert status["cases"] == {"修改或取消订单": 2, "发票问题": 1, "包裹丢失或损毁": 3, "冷链商品温控异常": 2}


def test_cli_bad_input_is_one_line_and_nonzero(s, capsys):
    (s.kb_dir / "faqs" / "empty.csv").write_text("", encoding="utf-8")
    assert main(["ingest", "--kb", str(s.kb_dir)]) == ValidationError.exit_code
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("kefu: 错误：")]
    assert errors == ["kefu: 错误：faqs/empty.csv：文件为空"]
    assert main(["index"]) == IndexError_.exit_code
