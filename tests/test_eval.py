"""The evaluation runner: metric arithmetic, and `kefu eval` end to end (hash embedder)."""

import json

import pytest

from core.errors import KefuError
from core.types import Answer, CaseRef, Citation
from eval.devset import DevItem, load_devset
from eval.metrics import METRICS, Prediction, compute, misses
from eval.systems import KefuSystem
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


def test_a_category_level_answer_is_not_its_citations_case():
    """A topic answered at category level holds the first place with no case: a case among its
    citations is shown second, so it counts for hit@3 but not for hit@1."""
    items = [DevItem("a", "q1", ("订单状态查询",), "订单相关问题", True, "short")]
    m = compute(items, [Prediction((None, "订单状态查询"), "物流与配送问题", False, 1.0, confidence=0.95)])
    assert m["hit@1"] == 0.0 and m["hit@3"] == 1.0 and m["mrr"] == 0.5
    assert m["answers_at_0.9"] == 1 and m["wrong_at_0.9"] == 1.0
    assert misses(items, [Prediction((None, "订单状态查询"), "物流与配送问题", False, 1.0)], "kefu")[0]["predicted"] == "物流与配送问题"


def test_a_refusal_holds_the_first_place_and_the_cases_it_offers_come_after():
    items = [DevItem("a", "q1", ("订单状态查询",), "订单相关问题", True, "short")]
    m = compute(items, [Prediction((None, "订单状态查询"), None, True, 1.0, alternatives=("订单状态查询",))])
    assert m["false_refusal"] == 1.0 and m["category_acc"] == 0.0  # still a refusal
    assert m["hit@1"] == 0.0 and m["hit@3"] == 1.0


def test_kefu_system_puts_a_category_level_answer_first():
    citation = Citation(1, "faq:LOG-021", "faqs/logistics.yaml", "LOG-021", "订单状态查询", "……", 0.9, "v1")
    answer = Answer(query="q", role="agent", case=CaseRef(None, "物流与配送问题", 0.9), confidence=0.9, answer="……",
                    handling_path=(), citations=(citation,), escalate=False, escalate_reason="", kb_version="v1",
                    latency_ms=1.0)

    class Asker:
        def ask(self, *_args, **_kwargs):
            return answer

    p = KefuSystem(Asker()).predict(DevItem("a", "q", ("订单状态查询",), "订单相关问题", True, "short"))
    assert p.cases == (None, "订单状态查询") and p.category == "物流与配送问题" and not p.refused


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
