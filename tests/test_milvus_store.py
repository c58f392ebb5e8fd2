"""Index versions in a real Milvus (the server of scripts/services.sh): a version is a
collection, the live pointer an alias; everything a replica needs is in Milvus."""

from __future__ import annotations

import json
import time

import pytest

from core.errors import IndexError_
from core.settings import load_settings
from eval.devset import load_devset
from eval.metrics import compute
from eval.systems import KefuSystem
from index.milvus_store import LEFTOVER_SECONDS
from index.store import FileVersions
from ingest.store import open_versions
from kefu import Kefu

pytestmark = pytest.mark.milvus

QUESTIONS = ("显示签收没收到货", "冻肉化了", "没发货能取消吗", "发票开错了", "今天天气怎么样", "")


def _kefu(tiny_kb, **changes) -> Kefu:
    return Kefu(load_settings().with_(kb_dir=tiny_kb, **changes))


def test_ingest_ask_and_status_on_milvus_answer_as_on_faiss(milvus, tiny_kb, tmp_path):
    on_milvus = _kefu(tiny_kb)
    report = on_milvus.ingest()
    assert report.swapped and on_milvus.live_version() == report.version
    assert not (on_milvus.settings.index_dir / "versions").exists()  # nothing of the index on local disk
    on_faiss = _kefu(tiny_kb, vector_store="faiss", home=tmp_path / "faiss-home")
    on_faiss.ingest()
    for q in QUESTIONS:
        a, b = on_milvus.ask(q, "agent").to_json(), on_faiss.ask(q, "agent").to_json()
        for x in (a, b):
            x.pop("latency_ms"), x.pop("kb_version")
            for c in x["citations"]:
                c.pop("kb_version")
        assert a == b, q
    status = on_milvus.status()
    assert status.store == "milvus" and status.chunks == on_faiss.status().chunks and status.versions == [report.version]
    assert status.index_type == "milvus-flat"
    assert [d.status for d in on_milvus.documents()] == ["live"] * len(on_milvus.documents())


def test_change_rollback_and_history_move_the_alias(milvus, tiny_kb):
    kefu = _kefu(tiny_kb)
    first = kefu.ingest().version
    faq = tiny_kb / "faqs" / "faq.yaml"
    faq.write_text(faq.read_text(encoding="utf-8").replace("快递柜代收", "快递柜或驿站代收"), encoding="utf-8")
    second = kefu.ingest()
    assert second.swapped and second.embedded == 1 and second.previous == first  # unchanged vectors reused from Milvus
    assert "驿站" in kefu.ask("显示签收没收到货").answer
    store = kefu.store
    assert store.live_marker() == store.milvus.collection(second.version)

    back = kefu.rollback(restore_kb=True)
    assert (back.previous, back.version, back.kb_restored) == (second.version, first, True)
    assert "驿站" not in kefu.ask("显示签收没收到货").answer and "驿站" not in faq.read_text(encoding="utf-8")
    assert [(e.action, e.version) for e in store.history()] == [("ingest", first), ("ingest", second.version), ("rollback", first)]
    with pytest.raises(IndexError_, match="没有更早"):
        kefu.rollback()


def test_prune_keeps_the_live_version_and_the_ones_rollback_returns_to(milvus, tiny_kb):
    kefu = _kefu(tiny_kb, keep_versions=2)
    faq = tiny_kb / "faqs" / "faq.yaml"
    names = []
    for word in ("", "二", "三", "四"):
        faq.write_text(faq.read_text(encoding="utf-8").replace("启动理赔调查", f"启动理赔调查{word}", 1), encoding="utf-8")
        names.append(kefu.ingest().version)
    assert len(set(names)) == 4
    assert kefu.versions() == names[-2:]
    assert sorted(c for c in kefu.store.milvus.chunk_collections()) == [kefu.store.milvus.collection(n) for n in names[-2:]]


def test_damage_is_refused_and_leftovers_are_removed(milvus, tiny_kb):
    kefu = _kefu(tiny_kb)
    name = kefu.ingest().version
    store = kefu.store
    m = store.milvus
    collection = m.collection(name)
    row = m.client.query(collection, filter="pos == 0", output_fields=["pos", "embedding", "chunk", "tokens"])[0]
    chunk = json.loads(row["chunk"])
    chunk["text"] = "篡改过的内容"
    m.client.upsert(collection, [{**row, "chunk": json.dumps(chunk, ensure_ascii=False)}])
    with pytest.raises(IndexError_, match="已损坏"):
        store.read(name)
    data = m.get_blob(f"{collection}/manifest").replace('"faqs": 3', '"faqs": 4')
    m.put_blob(f"{collection}/manifest", data)
    with pytest.raises(IndexError_, match="校验值不符"):
        store.verify(name)

    # a collection without a manifest: kept while it may be another replica's write, dropped once abandoned
    m.create_version(f"{m.prefix}_v0099_x", 8, 1)
    m.put_blob(f"{m.prefix}_v0099_x/started", str(time.time()))
    assert store.remove_leftovers() == []
    m.put_blob(f"{m.prefix}_v0099_x/started", str(time.time() - LEFTOVER_SECONDS - 1))
    assert store.remove_leftovers() == [f"{m.prefix}_v0099_x"]


def test_a_second_process_follows_the_alias_by_polling(milvus, tiny_kb, tmp_path, monkeypatch):
    monkeypatch.setenv("KEFU_LIVE_POLL_SECONDS", "0.5")
    editor = _kefu(tiny_kb)
    first = editor.ingest().version
    replica = Kefu(load_settings().with_(home=tmp_path / "replica-home"))  # no KB folder, no index of its own
    assert replica.ask("冻肉化了").kb_version == first
    calls = []
    live = replica.store.live
    replica.store.live = lambda: calls.append(1) or live()
    for _ in range(20):
        replica.ask("冻肉化了")
    assert len(calls) <= 1  # not one call per question
    faq = tiny_kb / "faqs" / "faq.yaml"
    faq.write_text(faq.read_text(encoding="utf-8").replace("冷链坏了", "冷链坏了, 冰袋化了"), encoding="utf-8")
    second = editor.ingest().version
    deadline = time.monotonic() + 5
    while replica.ask("冻肉化了").kb_version != second:
        assert time.monotonic() < deadline, "the replica did not follow the alias"
        time.sleep(0.1)


@pytest.mark.model
def test_dev_set_on_milvus_within_a_point_of_faiss(real_index, milvus):
    """The same version served from Milvus answers the dev set as from FAISS (hit@1, MRR)."""
    faiss_version = FileVersions(real_index.index_dir).read()
    settings = real_index.with_(vector_store="milvus", milvus_uri=milvus, milvus_prefix=load_settings().milvus_prefix)
    store = open_versions(settings)
    store.write(faiss_version.manifest, faiss_version.chunks, faiss_version.tokens, faiss_version.vectors,
                faiss_version.phrasings, faiss_version.phrasing_vectors, faiss_version.kb, faiss_version.classifier,
                FileVersions(real_index.index_dir).sources(faiss_version.name))
    store.set_live(faiss_version.name, "ingest", None)
    items = load_devset()
    figures = {}
    for label, s in (("faiss", real_index), ("milvus", settings)):
        kefu = Kefu(s)
        kefu.warmup()
        figures[label] = compute(items, [KefuSystem(kefu).predict(i) for i in items])
    print(f"\nfaiss {figures['faiss']}\nmilvus {figures['milvus']}")
    for metric in ("hit@1", "mrr"):
        assert abs(figures["milvus"][metric] - figures["faiss"][metric]) <= 0.01, (metric, figures)
