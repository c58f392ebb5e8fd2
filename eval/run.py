"""`kefu eval`: every system on the dev set in one run, on the same KB and model."""

from __future__ import annotations

import warnings
from pathlib import Path

from eval.metrics import METRICS, compute, load_devset, misses, per_category
from eval.systems import ChunkRanker, KefuSystem, chatchat_like, langchain_naive
from kefu.errors import KefuError
from kefu.settings import Settings

ALL_SYSTEMS = ("kefu", "bm25", "dense", "langchain_naive", "chatchat_like")


def build_systems(assistant, kb_dir: Path, names) -> list:
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="langchain_community")
    factories = {
        "kefu": lambda: KefuSystem(assistant),
        "bm25": lambda: ChunkRanker("bm25", assistant, "bm25"),
        "dense": lambda: ChunkRanker("dense", assistant, "dense"),
        "langchain_naive": lambda: langchain_naive(assistant, kb_dir),
        "chatchat_like": lambda: chatchat_like(assistant, kb_dir),
    }
    unknown = [n for n in names if n not in factories]
    if unknown:
        raise KefuError(f"未知的系统：{', '.join(unknown)}；可选：{', '.join(ALL_SYSTEMS)}")
    return [factories[n]() for n in names]


def evaluate(assistant, items, kb_dir: Path, names=ALL_SYSTEMS, progress=None) -> dict:
    report = {"systems": {}, "per_category": {}, "misses": [], "kb_version": assistant.version.name,
              "model": assistant.version.model,
              "n": {"rows": len(items), "in_scope": sum(i.in_scope for i in items),
                    "out_of_scope": sum(not i.in_scope for i in items),
                    "with_case": sum(bool(i.cases) for i in items)}}
    for system in build_systems(assistant, kb_dir, names):
        if progress:
            progress(f"正在评测 {system.name}")
        preds = [system.predict(i.query) for i in items]
        report["systems"][system.name] = compute(items, preds)
        report["per_category"][system.name] = per_category(items, preds)
        report["misses"] += misses(items, preds, system.name)
    return report


def run_eval(settings: Settings, devset=None, out=None, systems=None, progress=None) -> dict:
    from retrieval.service import Service

    items = load_devset(devset)
    service = Service(settings, progress=progress)
    service.warmup()
    report = evaluate(service.assistant(), items, settings.kb_dir, systems or ALL_SYSTEMS, progress)
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
