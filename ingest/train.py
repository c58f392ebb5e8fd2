"""Learn the case classifier at ingest, from the KB alone: FAQ questions and variants,
playbook lines, service-scope items and the out-of-scope examples. An editor's change
reaches it on the next ingest; nothing learned from real customers ships."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from core.classifier import OOS_LABEL, GramClassifier, LinearClassifier, gram_rows, topic_label
from core.kb import KnowledgeBase
from core.text import char_grams
from index.versions import Phrasing

# Weight decay on the weights (mean-loss scale). Holding out whole FAQ entries of the shipped
# KB, accuracy is flat from 1e-6 to 3e-4 (README, "Deciding the case").
L2 = 1e-4
# The gram classifier fits its phrasings almost exactly at this decay and still gains on real
# openings; at 1e-3 it underfits (README, "Deciding the case").
GRAM_L2 = 1e-5
MIN_GRAM_PHRASINGS = 2  # a gram seen in one phrasing only says nothing about a label
MAX_ITER = 200


def phrasings(kb: KnowledgeBase) -> list[Phrasing]:
    """Every short text embedded as a query: FAQ questions and variants (also matched
    query-to-query), each playbook's summary, preconditions and self-service lines, each
    case's scope item and title, and the out-of-scope examples; each with its label."""
    out = [Phrasing(f.passage, q, f.case or topic_label(f.category, f.passage), "faq")
           for f in kb.faqs if f.passage not in kb.disabled for q in (f.question, *f.variants)]
    scope_id = {c.title: c.passage for c in kb.cases}
    for pb in kb.playbooks:
        passage = "playbook:" + scope_id[pb.case].split(":", 1)[1]
        lines = [pb.summary, *(i.text for i in (*pb.preconditions, *pb.self_service))]
        out += [Phrasing(passage, t, pb.case, "playbook") for t in lines]
    for p in kb.passages:
        if p.case and p.id == scope_id.get(p.case) and p.id not in kb.disabled:
            out += [Phrasing(p.id, p.text, p.case, "scope"), Phrasing(p.id, p.case, p.case, "scope")]
    return out + [Phrasing("oos", q, OOS_LABEL, "oos") for q in kb.negatives]


def label_space(kb: KnowledgeBase) -> tuple[str, ...]:
    """The cases, each FAQ that fits a category but no case, and `oos`."""
    topics = sorted(topic_label(f.category, f.passage) for f in kb.faqs if not f.case and f.passage not in kb.disabled)
    return (*(c.title for c in kb.cases), *topics, OOS_LABEL)


def train_classifier(vectors: np.ndarray, texts: list[str], labels: list[str],
                     label_space: tuple[str, ...]) -> LinearClassifier:
    """Multinomial logistic regressions fitted by L-BFGS from zeros (deterministic, about a
    second each for two thousand phrasings): one on the centred, scaled embeddings, one on
    the texts' characters and character pairs."""
    import torch

    index = {label: j for j, label in enumerate(label_space)}
    y = np.array([index[label] for label in labels])
    mean = vectors.mean(axis=0)
    centred = vectors - mean
    scale = float(centred.std()) or 1.0
    w, b = _fit(torch.tensor(centred / scale, dtype=torch.float64), y, len(label_space), L2)
    return LinearClassifier(labels=tuple(label_space), weights=w, bias=b, mean=mean.astype(np.float32), scale=scale,
                            lexical=_train_grams(texts, y, label_space))


def _train_grams(texts: list[str], y: np.ndarray, label_space: tuple[str, ...]) -> GramClassifier:
    import torch

    seen = Counter(g for t in texts for g in char_grams(t))
    grams = tuple(sorted(g for g, n in seen.items() if n >= MIN_GRAM_PHRASINGS))
    idf = np.array([math.log((len(texts) + 1) / (seen[g] + 1)) + 1 for g in grams], dtype=np.float32)
    rows, cols, values = gram_rows(texts, {g: j for j, g in enumerate(grams)}, idf)
    # Sparse: a phrasing has a few dozen of the thousands of grams (8x faster, same weights).
    x = torch.sparse_coo_tensor(np.stack([rows, cols]), values, (len(texts), len(grams)), dtype=torch.float64,
                                check_invariants=True)
    w, b = _fit(x.coalesce(), y, len(label_space), GRAM_L2)
    return GramClassifier(labels=tuple(label_space), grams=grams, idf=idf, weights=w, bias=b)


def _fit(x, y: np.ndarray, n_labels: int, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """Weights and bias of a multinomial logistic regression on `x` (a dense or sparse tensor)."""
    import torch

    product = torch.sparse.mm if x.is_sparse else torch.matmul
    yt = torch.tensor(y)
    w = torch.zeros(x.shape[1], n_labels, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(n_labels, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=MAX_ITER, history_size=20, line_search_fn="strong_wolfe")

    def loss():
        opt.zero_grad()
        value = torch.nn.functional.cross_entropy(product(x, w) + b, yt) + l2 * (w * w).sum()
        value.backward()
        return value

    opt.step(loss)
    return w.detach().numpy().astype(np.float32), b.detach().numpy().astype(np.float32)
