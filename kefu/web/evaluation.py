"""评测: run the evaluation on the dev set, Kefu against the baselines, and show the metrics,
a per-category chart and the misses."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from eval import background
from kefu.web import common as ui

SYSTEM_LABEL = {"kefu": "Kefu（本系统）", "bm25": "BM25", "dense": "纯向量检索",
                "langchain_naive": "LangChain 朴素 RAG", "chatchat_like": "Chatchat 式检索"}
METRIC_LABEL = {"hit@1": "Hit@1", "hit@3": "Hit@3", "hit@5": "Hit@5", "mrr": "MRR", "category_acc": "类别准确率",
                "oos_refusal": "库外拒答率", "false_refusal": "误拒率", "wrong_at_0.9": "高置信错误率",
                "answers_at_0.9": "高置信答复数", "offered_alternatives": "追问比例", "found_other_issues": "识别多问题比例",
                "latency_p50_ms": "延迟 P50 (ms)", "latency_p95_ms": "延迟 P95 (ms)"}


def _label(system: str) -> str:
    return SYSTEM_LABEL.get(system, system)


def metrics_table(report: dict) -> pd.DataFrame:
    rows = {_label(s): {METRIC_LABEL.get(k, k): v for k, v in m.items()} for s, m in report["systems"].items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def category_rows(report: dict, metric: str = "hit@1") -> pd.DataFrame:
    """One row per (category, system): the long form a grouped bar chart wants."""
    rows = [{"类别": c, "系统": _label(s), metric: v[metric], "问题数": v.get("n", 0)}
            for s, cats in report.get("per_category", {}).items() for c, v in cats.items()]
    return pd.DataFrame(rows, columns=["类别", "系统", metric, "问题数"])


def category_chart(report: dict, metric: str = "hit@1") -> None:
    """Systems side by side within each category; full category names on the axis."""
    data = category_rows(report, metric)
    systems = [_label(s) for s in report.get("per_category", {})]
    spec = {
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "y": {"field": "类别", "type": "nominal", "sort": None, "axis": {"title": None, "labelLimit": 400}},
            "yOffset": {"field": "系统", "sort": systems},
            "x": {"field": metric, "type": "quantitative", "scale": {"domain": [0, 1]},
                  "axis": {"title": METRIC_LABEL.get(metric, metric), "format": ".0%"}},
            "color": {"field": "系统", "type": "nominal", "sort": systems, "legend": {"orient": "bottom", "title": None}},
        },
    }
    st.vega_lite_chart(data, spec, height=60 + 16 * len(data), width="stretch")


def progress() -> None:
    """The running evaluation's progress, one bar per system; polled every two seconds while it runs."""
    job = st.session_state.get("eval_job")
    if job is None:
        return
    status = job.status()
    if status.running:
        with st.status("正在后台评测：每个系统都要回答整个评测集，使用真实模型需要几分钟；其他用户的提问不受影响…",
                       expanded=True, state="running"):
            systems = status.systems
            for name, (done, total) in systems.items():
                text = f"{_label(name)}：{done}/{total}" if total else f"{_label(name)}：等待中"
                st.progress(done / total if total else 0.0, text=text)
            if not systems:
                for line in status.log[-4:]:
                    st.write(f"· {ui.md(line)}")
        return
    del st.session_state.eval_job
    if status.report is None:
        st.session_state.eval_error = status.error
    else:
        st.session_state.eval_report = status.report
    st.rerun()


def set_label(report: dict) -> str:
    name = Path(str(report.get("set") or "eval/devset.jsonl")).name
    return f"真实消息集 {name}" if report.get("set_kind") == "real" else f"开发集 {name}"


def show(report: dict) -> None:
    n = report.get("n", {})
    if n:
        st.caption(f"{ui.md(set_label(report))}：{n.get('rows', '?')} 条（库内 {n.get('in_scope', '?')}，库外 {n.get('out_of_scope', '?')}）"
                   + (f" · 完成于 {ui.md(report['finished_at'])} (UTC)" if report.get("finished_at") else "")
                   + (f" · 知识库版本 {ui.md(report['kb_version'])}" if report.get("kb_version") else "")
                   + (f" · 模型 {ui.md(report['model'])}" if report.get("model") else ""))
    st.subheader("指标", anchor=False)
    table = metrics_table(report)
    formats = {c: st.column_config.NumberColumn(c, format="%.1f" if "ms" in c else "%.3f") for c in table.columns}
    st.dataframe(table, column_config=formats, width="stretch")
    st.subheader("各类别 Hit@1", anchor=False)
    if report.get("per_category"):
        category_chart(report)
    else:
        st.caption("没有分类别的结果。")
    st.subheader("未命中的问题", anchor=False)
    misses = report.get("misses", [])
    systems = sorted({m["system"] for m in misses})
    chosen = st.multiselect("系统", systems, default=[s for s in systems if s == "kefu"] or systems,
                            format_func=_label, key="eval_miss_systems")
    rows = [{"系统": _label(m["system"]), "编号": m["id"], "问题": m["query"], "标准答案": m["gold"],
             "系统判定": m["predicted"]} for m in misses if m["system"] in chosen]
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch")
    else:
        st.caption("所选系统没有未命中的问题。")


def main() -> None:
    settings = ui.settings_or_stop()
    st.title("评测")
    if not st.session_state.get("editor_ok"):
        # A full evaluation is minutes of work: for editors, not for whoever can reach the app.
        st.info("评测只对编辑开放：请先在“知识库管理”页登录（需要设置 KEFU_EDITOR_PASSWORD）。")
        return
    st.caption("在评测集上比较 Kefu 与基线系统：案例命中率、类别准确率、库外拒答与延迟。"
               "评测在后台进程中以较低优先级运行，不影响其他用户提问；每个评测集的最后一次结果会保存下来。")
    running = st.session_state.get("eval_job") is not None
    devset = st.text_input("评测集（可选）", key="eval_set", disabled=running,
                           placeholder="留空使用开发集；或填写带标注的真实消息 TSV 文件路径（同 kefu eval --set）",
                           help="TSV 列：query、gold、categories、kind（见 eval/devset.py）").strip()
    if st.button("运行评测", type="primary", key="eval_run", disabled=running):
        if devset and not Path(devset).is_file():
            st.error(f"找不到评测集文件：{ui.md(devset)}")
            return
        for key in ("eval_report", "eval_error"):
            st.session_state.pop(key, None)
        st.session_state.eval_job = background.start(settings, devset=devset or None)
        st.rerun()  # redraw with the button disabled and the progress polling
    st.fragment(progress, run_every=2 if running else None)()
    if st.session_state.get("eval_error"):
        st.error(f"评测失败：{ui.md(st.session_state.eval_error)}")
    report = st.session_state.get("eval_report")
    saved = background.saved_reports(settings)
    if report is None and saved and not running:
        labels = [f"{set_label(r)} · {r.get('finished_at', '')}" for r in saved]
        picked = st.selectbox("已保存的结果（每个评测集保留最后一次）", range(len(saved)), format_func=labels.__getitem__,
                              key="eval_saved")
        report = saved[picked]
    if report:
        show(report)
    elif not running:
        st.info("点击“运行评测”开始。")


if __name__ == "__main__":
    main()
