"""Learn the case classifier at ingest, from the KB alone: FAQ questions and variants,
playbook lines, service-scope items and the out-of-scope examples. An editor's change
reaches it on the next ingest; nothing learned from real customers ships."""

from __future__ import annotations

import numpy as np

from core.classifier import OOS_LABEL, LinearClassifier, category_label
from core.kb import KnowledgeBase
from index.versions import Phrasing

# Weight decay on the weights (mean-loss scale). Holding out whole FAQ entries of the shipped
# KB, accuracy is flat from 1e-6 to 3e-4 (README, "Deciding the case").
L2 = 1e-4
MAX_ITER = 200


def phrasings(kb: KnowledgeBase) -> list[Phrasing]:
    """Every short text embedded as a query: FAQ questions and variants (also matched
    query-to-query), each playbook's summary, preconditions and self-service lines, each
    case's scope item and title, and the out-of-scope examples; each with its label."""
    out = [Phrasing(f.passage, q, f.case or category_label(f.category), "faq")
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
    """The cases, the categories that have FAQs with no case, and `oos`."""
    categories = sorted({category_label(f.category) for f in kb.faqs if not f.case})
    return (*(c.title for c in kb.cases), *categories, OOS_LABEL)


def train_classifier(vectors: np.ndarray, labels: list[str], label_space: tuple[str, ...]) -> LinearClassifier:
    """Multinomial logistic regression on centred, scaled vectors, fitted by L-BFGS from
    zeros: deterministic, about a second for a thousand phrasings."""
    import torch

    index = {label: j for j, label in enumerate(label_space)}
    y = torch.tensor([index[label] for label in labels])
    mean = vectors.mean(axis=0)
    centred = vectors - mean
    scale = float(centred.std()) or 1.0
    x = torch.tensor(centred / scale, dtype=torch.float64)
    w = torch.zeros(vectors.shape[1], len(label_space), dtype=torch.float64, requires_grad=True)
    b = torch.zeros(len(label_space), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=MAX_ITER, history_size=20, line_search_fn="strong_wolfe")

    def loss():
        opt.zero_grad()
        value = torch.nn.functional.cross_entropy(x @ w + b, y) + L2 * (w * w).sum()
        value.backward()
        return value

    opt.step(loss)
    return LinearClassifier(labels=tuple(label_space), weights=w.detach().numpy().astype(np.float32),
                            bias=b.detach().numpy().astype(np.float32), mean=mean.astype(np.float32), scale=scale)
