"""The evaluation report as Markdown and a PNG chart."""

from __future__ import annotations

from pathlib import Path

from eval.metrics import METRICS

# The chart uses short codes: this machine has no CJK font and boxes help nobody.
CATEGORY_CODES = {
    "订单相关问题": "ORD", "支付与退款问题": "PAY", "售后服务与退换货支持": "AS",
    "账户与安全问题": "ACC", "物流与配送问题": "LOG", "会员与增值服务咨询": "MEM",
}


def markdown(report: dict) -> str:
    names = list(report["systems"])
    lines = [
        "# 评测报告",
        "",
        f"开发集 {report['n']['rows']} 条（范围内 {report['n']['in_scope']}，范围外 {report['n']['out_of_scope']}）；"
        f"知识库版本 `{report['kb_version']}`；嵌入模型 `{report['model']}`。",
        "",
        "| 指标 | " + " | ".join(names) + " |",
        "| --- | " + " | ".join("---:" for _ in names) + " |",
    ]
    for m in METRICS:
        lines.append(f"| {m} | " + " | ".join(f"{report['systems'][n][m]:.3f}" for n in names) + " |")
    lines += ["", "## 分类别（hit@1）", "", "| 类别 | 代码 | " + " | ".join(names) + " |",
              "| --- | --- | " + " | ".join("---:" for _ in names) + " |"]
    for cat, code in CATEGORY_CODES.items():
        cells = [f"{report['per_category'][n].get(cat, {}).get('hit@1', 0):.3f}" for n in names]
        lines.append(f"| {cat} | {code} | " + " | ".join(cells) + " |")
    kefu_misses = [m for m in report["misses"] if m["system"] == "kefu"]
    lines += ["", f"## kefu 的错例（{len(kefu_misses)}）", "", "| id | 问题 | 标注 | 预测 |", "| --- | --- | --- | --- |"]
    for m in kefu_misses:
        q = m["query"].replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {m['id']} | {q} | {m['gold']} | {m['predicted']} |")
    return "\n".join(lines) + "\n"


def chart(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(report["systems"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.5))
    metrics = ["hit@1", "hit@3", "mrr", "category_acc"]
    x = np.arange(len(metrics))
    width = 0.8 / len(names)
    for i, n in enumerate(names):
        ax1.bar(x + i * width, [report["systems"][n][m] for m in metrics], width, label=n)
    ax1.set_xticks(x + 0.4 - width / 2, metrics)
    ax1.set_ylim(0.5, 1)  # the differences live above 0.5; a 0-based axis hides them
    ax1.set_title("Systems side by side")
    cats = list(CATEGORY_CODES)
    x = np.arange(len(cats))
    for i, n in enumerate(names):
        ax2.bar(x + i * width, [report["per_category"][n].get(c, {}).get("hit@1", 0) for c in cats], width, label=n)
    ax2.set_xticks(x + 0.4 - width / 2, [CATEGORY_CODES[c] for c in cats])
    ax2.set_ylim(0.5, 1)
    ax2.set_title("hit@1 per category")
    handles, labels = ax1.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(names), fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(report: dict, out: Path) -> None:
    import json

    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(markdown(report), encoding="utf-8")
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    chart(report, out / "chart.png")
