"""Choose fusion weights and thresholds on the dev set: `python -m eval.tune [--set FILE]`.

Prints the grid so the choice in `SearchParams` / `DecisionParams` can be justified (and
re-checked when the KB or the dev set grows). Query embeddings are computed once.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools

import numpy as np

from answer.decide import DecisionParams, evidence
from answer.respond import Assistant
from core.settings import load_settings
from eval.metrics import compute, load_devset
from eval.systems import KefuSystem
from index.versions import read_version
from models.embed import KefuEmbeddings, load_embeddings
from retrieval.search import Searcher, SearchParams


class CachedEmbeddings(KefuEmbeddings):
    def __init__(self, inner: KefuEmbeddings):
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.cache: dict[str, np.ndarray] = {}

    def encode_queries(self, texts):
        missing = [t for t in texts if t not in self.cache]
        if missing:
            for t, v in zip(missing, self.inner.encode_queries(missing)):
                self.cache[t] = v
        return np.stack([self.cache[t] for t in texts])

    def encode_passages(self, texts, progress=None):
        return self.inner.encode_passages(texts, progress)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", dest="devset")
    args = ap.parse_args()
    items = load_devset(args.devset)
    settings = load_settings()
    emb = CachedEmbeddings(load_embeddings(settings))
    version = read_version(settings.index_dir, expected_model=emb.name)
    calibrated = DecisionParams.from_settings(settings)

    def searcher(sp: SearchParams) -> Searcher:
        return Searcher(version, emb, settings.max_query_chars, sp)

    def run(sp: SearchParams, dp: DecisionParams):
        system = KefuSystem(Assistant(searcher(sp), dp))
        return compute(items, [system.predict(i.query) for i in items])

    print("fusion (no refusal, no FAQ shortcut):")
    print(f"{'weight':>7}{'half':>6}{'hit@1':>8}{'hit@3':>8}{'mrr':>8}{'cat':>8}")
    no_refusal = DecisionParams(oos_threshold=-1, faq_threshold=2)
    for w, half in itertools.product((0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5), (3.0, 6.0, 12.0)):
        m = run(SearchParams(lexical_weight=w, lexical_half=half), no_refusal)
        print(f"{w:>7.2f}{half:>6.1f}{m['hit@1']:>8.3f}{m['hit@3']:>8.3f}{m['mrr']:>8.3f}{m['category_acc']:>8.3f}")

    sp = SearchParams()
    default = searcher(sp)
    ev = [(i.in_scope, evidence(default.search(i.query))) for i in items]
    ins = np.array([e for s_, e in ev if s_])
    outs = np.array([e for s_, e in ev if not s_])
    print(f"\nin-scope evidence (faq + case - oos) with {sp}:")
    print(f"  in scope:     min {ins.min():.3f}  p2 {np.percentile(ins, 2):.3f}  median {np.median(ins):.3f}")
    print(f"  out of scope: max {outs.max():.3f}  p90 {np.percentile(outs, 90):.3f}  median {np.median(outs):.3f}")

    print("\nthresholds:")
    print(f"{'oos':>7}{'faq':>6}{'hit@1':>8}{'hit@3':>8}{'cat':>8}{'oos_ref':>9}{'false_ref':>10}")
    for oos, faq in itertools.product(np.round(np.arange(0.8975, 0.9376, 0.005), 4), (0.92, 0.95, 0.97, 2.0)):
        m = run(sp, dataclasses.replace(calibrated, oos_threshold=float(oos), faq_threshold=faq))
        print(f"{oos:>7.4f}{faq:>6.2f}{m['hit@1']:>8.3f}{m['hit@3']:>8.3f}{m['category_acc']:>8.3f}{m['oos_refusal']:>9.3f}{m['false_refusal']:>10.3f}")


if __name__ == "__main__":
    main()
