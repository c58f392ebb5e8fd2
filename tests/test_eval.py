"""The evaluation runner: metric arithmetic, and `kefu eval` end to end (hash embedder)."""

import json

from eval.metrics import METRICS, DevItem, Prediction, compute, misses
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
