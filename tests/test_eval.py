"""The evaluation runner: metric arithmetic, and `kefu eval` end to end (hash embedder)."""

import json

import pytest

from core.errors import KefuError
from eval.devset import DevItem, load_devset
from eval.metrics import METRICS, Prediction, compute, misses
from ingest.pipeline import run_ingest
from kefu.cli import main

ITEMS = [
    DevItem("a", "q1", ("发票问题",), "订单相关问题", True, "short"),
    DevItem("b", "q2", ("退款进度查询",), "支付与退款问题", True, "short"),
    DevItem("c", "q3", (), "支付与退款问题", True, "short"),  # category-only topic
    DevItem("d", "q4", (), None, False, "oos"),
    DevItem("e", "q5", (), None, False, "oos"),
]


def test_metrics_count_ranks_categories_and_refusals():
    preds = [
        Prediction(("发票问题", "订单状态查询"), "订单相关问题", False, 10.0),  # rank 1
        Prediction(("跨境支付问题", "支付失败或重复扣款", "退款进度查询"), "支付与退款问题", False, 20.0),  # rank 3
        Prediction((), None, True, 30.0),  # wrongly refused
        Prediction((), None, True, 40.0),  # rightly refused
        Prediction(("发票问题",), "订单相关问题", False, 50.0),  # answered out of scope
    ]
    m = compute(ITEMS, preds)
    assert m["hit@1"] == 0.5 and m["hit@3"] == 1.0 and m["hit@5"] == 1.0
    assert abs(m["mrr"] - (1 + 1 / 3) / 2) < 1e-9
    assert abs(m["category_acc"] - 2 / 3) < 1e-9
    assert m["oos_refusal"] == 0.5 and abs(m["false_refusal"] - 1 / 3) < 1e-9
    assert m["latency_p50_ms"] == 30.0
    assert [x["id"] for x in misses(ITEMS, preds, "kefu")] == ["b", "c", "e"]


def test_confident_answers_and_offered_cases_are_counted():
    items = [DevItem("a", "q1", ("发票问题",), "订单相关问题", True, "short"),
             DevItem("b", "q2", ("退款进度查询",), "支付与退款问题", True, "short"),
             DevItem("c", "q3", ("发票问题",), "订单相关问题", True, "short")]
    preds = [Prediction(("发票问题",), "订单相关问题", False, 1.0, confidence=0.95),
             Prediction(("跨境支付问题", "退款进度查询"), "支付与退款问题", False, 1.0, confidence=0.92,
                        alternatives=("退款进度查询",)),
             Prediction(("订单状态查询", "发票问题"), "订单相关问题", False, 1.0, confidence=0.5, also=("发票问题",))]
    m = compute(items, preds)
    assert m["answers_at_0.9"] == 2 and m["wrong_at_0.9"] == 0.5  # the second is shown at 0.92 and wrong
    assert m["hit@1"] == pytest.approx(1 / 3) and m["hit@3"] == 1.0
    assert m["offered_alternatives"] == pytest.approx(1 / 3) and m["found_other_issues"] == pytest.approx(1 / 3)


def test_a_tsv_of_real_messages_reads_gold_cases_categories_and_history(tmp_path):
    p = tmp_path / "real.tsv"
    p.write_text("query\tgold\tcategories\tkind\thistory\n"
                 "发票抬头开错了\t发票问题\t订单相关问题\tin\t\n"
                 "那运费呢\t退换货申请协助\t售后服务与退换货支持\tin\t[\"杯子收到就裂了\"]\n"
                 "价保怎么申请\t-\t支付与退款问题|订单相关问题\tin\t\n"
                 "这款手机防水吗\t-\t-\toos\t\n", encoding="utf-8")
    rows = load_devset(p)
    assert [r.cases for r in rows] == [("发票问题",), ("退换货申请协助",), (), ()]
    assert rows[1].history == ("杯子收到就裂了",) and rows[0].history == ()
    assert rows[2].categories == ("支付与退款问题", "订单相关问题") and rows[2].category_ok("订单相关问题")
    assert [r.in_scope for r in rows] == [True, True, True, False] and rows[3].category is None
    p.write_text("query\tgold\n问题\t发票问题\n", encoding="utf-8")
    with pytest.raises(KefuError, match="缺少列"):
        load_devset(p)


def test_kefu_eval_json_and_report(settings, shipped_kb, tmp_path, capsys, monkeypatch):
    run_ingest(settings.with_(kb_dir=shipped_kb))
    monkeypatch.setenv("KEFU_KB", str(shipped_kb))
    out = tmp_path / "report"
    assert main(["eval", "--json", "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report["systems"]) == ["kefu", "bm25", "dense", "langchain_naive", "chatchat_like"]
    for metrics in report["systems"].values():
        assert set(metrics) == set(METRICS)
    assert report["n"]["rows"] >= 150 and report["n"]["out_of_scope"] >= 20
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| hit@1 |" in md and "chatchat_like" in md
    assert (out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_scaling_benchmark_builds_and_queries_a_synthetic_version(settings, shipped_kb):
    from eval import bench

    run_ingest(settings.with_(kb_dir=shipped_kb))
    before = sorted(p.name for p in (settings.index_dir / "versions").iterdir())
    x = bench.scale_one(300, settings.home)
    assert x["chunks"] == 300 and x["index_mb"] > 0
    assert 0 < x["query_p50_ms"] <= x["query_p95_ms"]
    assert x["dense_flat_ms"] > 0 and x["dense_hnsw_ms"] > 0
    # The synthetic version is removed again; the live one is untouched.
    assert sorted(p.name for p in (settings.index_dir / "versions").iterdir()) == before
