"""Dev-set rows, per-query predictions, and the metrics computed from them."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import KefuError

DEFAULT_DEVSET = Path(__file__).resolve().parent / "devset.jsonl"
METRICS = ("hit@1", "hit@3", "hit@5", "mrr", "category_acc", "oos_refusal", "false_refusal", "latency_p50_ms", "latency_p95_ms")


@dataclass(frozen=True)
class DevItem:
    id: str
    query: str
    cases: tuple[str, ...]  # acceptable case titles; empty for out-of-scope and category-only rows
    category: str | None
    in_scope: bool
    style: str


@dataclass(frozen=True)
class Prediction:
    cases: tuple[str | None, ...]  # ranked case titles, best first (None: category-level answer)
    category: str | None
    refused: bool  # the system said the KB does not cover the question
    latency_ms: float


def load_devset(path: Path | str | None = None) -> list[DevItem]:
    path = Path(path or DEFAULT_DEVSET)
    items = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise KefuError(f"无法读取评测集 {path}：{e}") from None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            items.append(DevItem(d["id"], d["query"], tuple(d.get("cases", ())), d.get("category"),
                                 bool(d.get("in_scope", True)), d.get("style", "")))
        except (ValueError, KeyError, TypeError) as e:
            raise KefuError(f"{path} 第 {n} 行：不是有效的评测集数据行（{e}）") from None
    if not items:
        raise KefuError(f"评测集 {path} 中没有数据")
    return items


def compute(items: list[DevItem], preds: list[Prediction]) -> dict:
    """Case metrics over in-scope rows with a gold case; category accuracy over in-scope rows;
    refusal rates over out-of-scope rows (refused) and in-scope rows (wrongly refused)."""
    hits = {1: [], 3: [], 5: []}
    rr, cat, oos, false_ref = [], [], [], []
    for item, p in zip(items, preds):
        if not item.in_scope:
            oos.append(p.refused)
            continue
        false_ref.append(p.refused)
        cat.append(not p.refused and p.category == item.category)
        if not item.cases:
            continue
        ranked = [] if p.refused else [c for c in p.cases if c]
        rank = next((i for i, c in enumerate(ranked, start=1) if c in item.cases), None)
        for k in hits:
            hits[k].append(rank is not None and rank <= k)
        rr.append(1.0 / rank if rank else 0.0)
    lat = np.array([p.latency_ms for p in preds]) if preds else np.zeros(1)
    mean = lambda xs: float(np.mean(xs)) if xs else 0.0  # noqa: E731
    return {
        "hit@1": mean(hits[1]), "hit@3": mean(hits[3]), "hit@5": mean(hits[5]), "mrr": mean(rr),
        "category_acc": mean(cat), "oos_refusal": mean(oos), "false_refusal": mean(false_ref),
        "latency_p50_ms": float(np.percentile(lat, 50)), "latency_p95_ms": float(np.percentile(lat, 95)),
    }


def per_category(items: list[DevItem], preds: list[Prediction]) -> dict:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, item in enumerate(items):
        if item.in_scope and item.category:
            groups[item.category].append(i)
    out = {}
    for category, idx in groups.items():
        m = compute([items[i] for i in idx], [preds[i] for i in idx])
        out[category] = {"n": len(idx), "hit@1": m["hit@1"], "hit@3": m["hit@3"], "category_acc": m["category_acc"]}
    return out


def misses(items: list[DevItem], preds: list[Prediction], system: str) -> list[dict]:
    out = []
    for item, p in zip(items, preds):
        top = None if p.refused or not p.cases else p.cases[0]
        if item.in_scope:
            ok = (not p.refused) and ((top in item.cases) if item.cases else p.category == item.category)
        else:
            ok = p.refused
        if not ok:
            gold = "、".join(item.cases) or (item.category or "（知识库外）")
            predicted = "（拒答）" if p.refused else (top or p.category or "")
            out.append({"system": system, "id": item.id, "query": item.query, "gold": gold, "predicted": predicted})
    return out
