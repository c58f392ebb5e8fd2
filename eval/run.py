"""`kefu eval`: every system on the dev set in one run, on the same KB and model.

The runner is handed a `kefu.Kefu` by its front door (the CLI, the evaluation page): it
asks through it and builds the baselines on the same live version and model.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from core.errors import KefuError
from eval.background import SYSTEMS_LINE
from eval.devset import load_devset
from eval.metrics import METRICS, compute, details, misses, per_category
from eval.systems import ChunkRanker, KefuSystem, chatchat_like, langchain_naive

ALL_SYSTEMS = ("kefu", "bm25", "dense", "langchain_naive", "chatchat_like")


def build_systems(kefu, kb_dir: Path, names) -> list:
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="langchain_community")
    searcher = kefu.searcher()
    factories = {
        "kefu": lambda: KefuSystem(kefu),
        "bm25": lambda: ChunkRanker("bm25", searcher),
        "dense": lambda: ChunkRanker("dense", searcher),
        "langchain_naive": lambda: langchain_naive(searcher, kb_dir),
        "chatchat_like": lambda: chatchat_like(searcher, kb_dir),
    }
    unknown = [n for n in names if n not in factories]
    if unknown:
        raise KefuError(f"未知的系统：{', '.join(unknown)}；可选：{', '.join(ALL_SYSTEMS)}")
    return [factories[n]() for n in names]


def evaluate(kefu, items, kb_dir: Path, names=ALL_SYSTEMS, progress=None) -> dict:
    version = kefu.searcher().version
    report = {"systems": {}, "per_category": {}, "misses": [], "kb_version": version.name, "model": version.model,
              "n": {"rows": len(items), "in_scope": sum(i.in_scope for i in items),
                    "out_of_scope": sum(not i.in_scope for i in items),
                    "with_case": sum(bool(i.cases) for i in items)}}
    systems = build_systems(kefu, kb_dir, names)
    if progress:
        progress(SYSTEMS_LINE + ",".join(s.name for s in systems))
    step = max(1, len(items) // 20)
    for system in systems:
        preds = []
        for n, item in enumerate(items, start=1):
            preds.append(system.predict(item))
            if progress and (n % step == 0 or n == len(items) or n == 1):
                progress(f"{system.name}：{n}/{len(items)}")
        report["systems"][system.name] = compute(items, preds)
        report["per_category"][system.name] = per_category(items, preds)
        report["misses"] += misses(items, preds, system.name)
        if system.name == "kefu":
            report["rows"] = details(items, preds)
    return report


def run_eval(kefu, devset=None, out=None, systems=None, progress=None) -> dict:
    items = load_devset(devset)
    report = evaluate(kefu, items, kefu.settings.kb_dir, systems or ALL_SYSTEMS, progress)
    report["set"] = str(devset) if devset else "eval/devset.jsonl"
    report["set_kind"] = "real" if str(devset or "").lower().endswith(".tsv") else "dev"
    if out:
        from eval.report import write_report

        write_report(report, Path(out))
    return report


def print_report(report: dict) -> None:
    names = list(report["systems"])
    print(f"评测集：{report['n']['rows']} 条（知识库内 {report['n']['in_scope']} 条，知识库外 {report['n']['out_of_scope']} 条）；"
          f"知识库 {report['kb_version']}；模型 {report['model']}")
    print(f"{'指标':<14}" + "".join(f"{n:>16}" for n in names))  # two wide characters fill four columns
    for m in METRICS:
        print(f"{m:<16}" + "".join(f"{report['systems'][n][m]:>16.3f}" for n in names))
