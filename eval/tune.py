"""Choose the decision's weights and thresholds on evaluation sets: `python -m eval.tune
[--set FILE ...]` (default: the team dev set). Prints the grids the README quotes, so a
choice can be re-checked when the KB, the model or a set changes. Query embeddings are
computed once.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from answer.decide import DecisionParams
from answer.respond import Assistant
from core.settings import load_settings
from eval.devset import DevItem, load_devset
from eval.metrics import compute
from eval.systems import KefuSystem
from index.versions import read_version
from models.embed import KefuEmbeddings, load_embeddings
from retrieval.search import Searcher


class CachedEmbeddings(KefuEmbeddings):
    def __init__(self, inner: KefuEmbeddings):
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.cache: dict[str, np.ndarray] = {}

    def encode_queries(self, texts):
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            for t, v in zip(missing, self.inner.encode_queries(missing)):
                self.cache[t] = v
        return np.stack([self.cache[t] for t in texts])

    def encode_passages(self, texts, progress=None):
        return self.inner.encode_passages(texts, progress)

    def trace_queries(self) -> bool:
        return self.inner.trace_queries()


def calibration(items: list[DevItem], answers) -> tuple[float, list[tuple[float, int, float]]]:
    """Expected calibration error of the shown confidence over answered rows with a gold case,
    and the reliability table (mean confidence, n, accuracy) per 0.1 bin."""
    pairs = [(a.confidence, a.case.title in i.cases) for i, a in zip(items, answers) if i.cases and a.case is not None]
    if not pairs:
        return 0.0, []
    conf = np.array([c for c, _ in pairs])
    ok = np.array([o for _, o in pairs], dtype=float)
    bins = np.minimum((conf * 10).astype(int), 9)
    table, ece = [], 0.0
    for b in range(10):
        m = bins == b
        if m.any():
            table.append((float(conf[m].mean()), int(m.sum()), float(ok[m].mean())))
            ece += m.sum() / len(conf) * abs(conf[m].mean() - ok[m].mean())
    return float(ece), table


def run(searcher: Searcher, items: list[DevItem], p: DecisionParams) -> tuple[dict, list]:
    assistant = Assistant(searcher, p)
    answers = [assistant.ask(i.query, "agent", history=i.history) for i in items]
    system = KefuSystem(_Replay(answers))
    return compute(items, [system.predict(i) for i in items]), answers


def grids(searcher: Searcher, base: DecisionParams, items: list[DevItem]) -> None:
    print("fusion (no refusal): hit@1 / hit@3 / category")
    print(f"{'alpha':>6}" + "".join(f"{'beta ' + str(b):>22}" for b in (0.0, 0.1, 0.2)))
    for a in (0.25, 0.5, 1.0, 1.5, 2.0):
        cells = []
        for b in (0.0, 0.1, 0.2):
            m, _ = run(searcher, items, dataclasses.replace(base, oos_threshold=1.0, alpha=a, beta=b))
            cells.append(f"{m['hit@1']:.3f}/{m['hit@3']:.3f}/{m['category_acc']:.3f}")
        print(f"{a:>6}" + "".join(f"{c:>22}" for c in cells))

    print("\ngram classifier weight, at the shipped refusal: hit@1 / false refusal / wrong at >= 0.9")
    for g in (0.0, 0.25, 0.5, 1.0):
        m, _ = run(searcher, items, dataclasses.replace(base, gamma=g))
        print(f"  g={g:<5} {m['hit@1']:.3f} / {m['false_refusal']:.3f} / {m['wrong_at_0.9']:.3f}")

    print("\nrefusal: threshold on p(oos) x minimum evidence: false refusal / out-of-scope refusal / hit@1")
    evidences = (0.0, 0.89, 0.90, 0.91, 0.915, 0.92, 0.925)
    print(f"{'t':>6}" + "".join(f"{'e ' + str(e):>20}" for e in evidences))
    for t in (0.3, 0.4, 0.5, 0.7, 1.0):
        cells = []
        for e in evidences:
            m, _ = run(searcher, items, dataclasses.replace(base, oos_threshold=t, min_evidence=e))
            cells.append(f"{m['false_refusal']:.3f}/{m['oos_refusal']:.3f}/{m['hit@1']:.3f}")
        print(f"{t:>6}" + "".join(f"{c:>20}" for c in cells))

    print("\nconfidence temperature: ECE, answers shown at >= 0.9 and how often they are wrong")
    for temp in (1.0, 1.25, 1.5, 2.0, 2.5):
        m, answers = run(searcher, items, dataclasses.replace(base, temperature=temp))
        ece, _ = calibration(items, answers)
        print(f"  T={temp:<5} ECE {ece:.3f}  n@0.9 {m['answers_at_0.9']:>4}  wrong@0.9 {m['wrong_at_0.9']:.3f}")
    _, answers = run(searcher, items, base)
    print("  reliability at the shipped settings (mean confidence / n / accuracy): "
          + "  ".join(f"{c:.2f}/{n}/{acc:.2f}" for c, n, acc in calibration(items, answers)[1]))

    print("\noffering close cases: ratio, how often offered, gold among the offered, hit@1 when not offered")
    for ratio in (0.2, 0.3, 0.4, 0.5, 0.6):
        _, answers = run(searcher, items, dataclasses.replace(base, offer_ratio=ratio))
        rows = [(i, a) for i, a in zip(items, answers) if i.cases and a.case is not None]
        shown = [(i, a) for i, a in rows if a.alternatives]
        alone = [(i, a) for i, a in rows if not a.alternatives]
        among = np.mean([any(c in i.cases for c in [a.case.title, *(x.title for x in a.alternatives)]) for i, a in shown] or [0])
        direct = np.mean([a.case.title in i.cases for i, a in alone] or [0])
        print(f"  r={ratio:<4} offered {len(shown) / max(len(rows), 1):.3f}  gold among {among:.3f}  direct hit@1 {direct:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", dest="sets", action="append", help="JSONL dev set or TSV of labelled messages (repeatable)")
    args = ap.parse_args()
    settings = load_settings()
    emb = CachedEmbeddings(load_embeddings(settings))
    version = read_version(settings.index_dir, expected_model=emb.name)
    searcher = Searcher(version, emb, settings.max_query_chars)
    for path in args.sets or [None]:
        items = load_devset(path)
        print(f"\n=== {path or 'eval/devset.jsonl'}: {len(items)} rows ===")
        grids(searcher, DecisionParams.from_settings(settings), items)


class _Replay:
    """Hands precomputed answers to KefuSystem in order (the grid asks each row once)."""

    def __init__(self, answers):
        self._answers = iter(answers)

    def ask(self, *_args, **_kwargs):
        return next(self._answers)


if __name__ == "__main__":
    main()
