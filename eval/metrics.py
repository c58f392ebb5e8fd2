"""Per-question predictions and the metrics computed from them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from eval.devset import DevItem

METRICS = ("hit@1", "hit@3", "hit@5", "mrr", "category_acc", "oos_refusal", "false_refusal", "wrong_at_0.9",
           "answers_at_0.9", "offered_alternatives", "found_other_issues", "latency_p50_ms", "latency_p95_ms")
CONFIDENT = 0.9  # "shown with confidence >= 0.9": how often is such an answer wrong?


@dataclass(frozen=True)
class Prediction:
    cases: tuple[str | None, ...]  # the distinct cases shown, in the order shown (None: category-level answer)
    category: str | None
    refused: bool  # the system said the KB does not cover the question
    latency_ms: float
    confidence: float = 0.0
    alternatives: tuple[str, ...] = ()  # cases offered as "您是想问…？"
    also: tuple[str, ...] = ()  # the cases of the other issues found in the message


def _rank(item: DevItem, p: Prediction) -> int | None:
    ranked = p.cases  # None (a refusal or a category-level answer) takes its place
    return next((i for i, c in enumerate(ranked, start=1) if c is not None and c in item.cases), None)


def compute(items: list[DevItem], preds: list[Prediction]) -> dict:
    """Case metrics over in-scope rows with a gold case; category accuracy over in-scope rows;
    refusal rates over out-of-scope rows (refused) and in-scope rows (wrongly refused);
    wrong_at_0.9 over answers shown with confidence >= 0.9 to rows with a gold case."""
    hits = {1: [], 3: [], 5: []}
    rr, cat, oos, false_ref, confident_wrong, offered, also = [], [], [], [], [], [], []
    for item, p in zip(items, preds):
        if not item.in_scope:
            oos.append(p.refused)
            continue
        false_ref.append(p.refused)
        cat.append(not p.refused and item.category_ok(p.category))
        if not p.refused:
            offered.append(bool(p.alternatives))
            also.append(bool(p.also))
        if not item.cases:
            continue
        rank = _rank(item, p)
        for k in hits:
            hits[k].append(rank is not None and rank <= k)
        rr.append(1.0 / rank if rank else 0.0)
        if not p.refused and p.confidence >= CONFIDENT:
            confident_wrong.append(rank != 1)
    lat = np.array([p.latency_ms for p in preds]) if preds else np.zeros(1)
    mean = lambda xs: float(np.mean(xs)) if xs else 0.0  # noqa: E731
    return {
        "hit@1": mean(hits[1]), "hit@3": mean(hits[3]), "hit@5": mean(hits[5]), "mrr": mean(rr),
        "category_acc": mean(cat), "oos_refusal": mean(oos), "false_refusal": mean(false_ref),
        "wrong_at_0.9": mean(confident_wrong), "answers_at_0.9": len(confident_wrong),
        "offered_alternatives": mean(offered), "found_other_issues": mean(also),
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


def _gold(item: DevItem) -> str:
    return "、".join(item.cases) or (item.category or "（知识库外）")


def _shown(p: Prediction) -> str:
    top = None if p.refused or not p.cases else p.cases[0]
    return "（拒答）" if p.refused else (top or p.category or "")


def misses(items: list[DevItem], preds: list[Prediction], system: str) -> list[dict]:
    out = []
    for item, p in zip(items, preds):
        if item.in_scope:
            ok = (not p.refused) and (_rank(item, p) == 1 if item.cases else item.category_ok(p.category))
        else:
            ok = p.refused
        if not ok:
            out.append({"system": system, "id": item.id, "query": item.query, "history": list(item.history),
                        "gold": _gold(item), "predicted": _shown(p), "confidence": round(p.confidence, 3),
                        "alternatives": list(p.alternatives), "also": list(p.also)})
    return out


def details(items: list[DevItem], preds: list[Prediction]) -> list[dict]:
    """Every row with what was shown: the case, the alternatives offered and the other issues."""
    return [{"id": item.id, "query": item.query, "history": list(item.history), "gold": _gold(item),
             "predicted": _shown(p), "confidence": round(p.confidence, 3), "alternatives": list(p.alternatives),
             "also": list(p.also), "ok": (_rank(item, p) == 1) if item.cases else None}
            for item, p in zip(items, preds)]
