"""Linear classifiers over a query, learned at ingest from the KB's own phrasings: one over its
embedding, one over its characters and character pairs.

Labels are case titles, `cat:<category>|<faq>` for each FAQ that fits a category but no case, and
`oos` for the examples of questions the KB does not cover. Only numbers and strings are
stored (no pickle): weights, biases, the centring vector and scale, the grams and their idf.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from core.text import char_grams

OOS_LABEL = "oos"
CATEGORY_PREFIX = "cat:"
# The arrays a store keeps for a LinearClassifier, by name (`parts` / `from_parts`).
CLASSIFIER_ARRAYS = ("weights", "bias", "mean", "gram_idf", "gram_weights", "gram_bias")


def topic_label(category: str, faq: str) -> str:
    """The label of an FAQ that fits a category but no case: one label per such FAQ. Pooled
    into one label per category, a dozen unrelated topics (delivery coverage, carrying
    upstairs, pickup points...) spread over the space and drew case questions in."""
    return f"{CATEGORY_PREFIX}{category}|{faq}"


def label_category(label: str) -> str | None:
    """The category of a category-level label ("cat:<category>|<faq>", or "cat:<category>")."""
    if not label.startswith(CATEGORY_PREFIX):
        return None
    rest = label[len(CATEGORY_PREFIX):]
    return rest.rpartition("|")[0] or rest


@dataclass(frozen=True, eq=False)
class GramClassifier:
    """Logistic regression over the tf-idf of a text's characters and character pairs (unit
    length). It errs on other questions than the embedding classifier: the embedding is drawn
    to the product named, the grams to the words around it (README, "Deciding the case")."""

    labels: tuple[str, ...]
    grams: tuple[str, ...]
    idf: np.ndarray  # grams
    weights: np.ndarray  # grams x labels
    bias: np.ndarray  # labels
    _column: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.idf.shape != (len(self.grams),) or self.weights.shape != (len(self.grams), len(self.labels)) \
                or self.bias.shape != (len(self.labels),):
            raise ValueError("gram classifier shapes do not match its grams and labels")
        object.__setattr__(self, "_column", {g: j for j, g in enumerate(self.grams)})

    def logits(self, text: str) -> np.ndarray:
        _, cols, values = gram_rows([text], self._column, self.idf)
        return values.astype(np.float32) @ self.weights[cols] + self.bias


def gram_rows(texts: Sequence[str], column: dict[str, int], idf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit-length tf-idf rows over the known grams (a gram counts once per text), as (row,
    column, value) triples: a text has a few dozen of the thousands of grams."""
    rows: list[int] = []
    cols: list[int] = []
    values: list[float] = []
    for r, text in enumerate(texts):
        js = sorted({j for g in char_grams(text) if (j := column.get(g)) is not None})
        if js:
            v = idf[js].astype(np.float64)
            rows += [r] * len(js)
            cols += js
            values += (v / np.linalg.norm(v)).tolist()
    return np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64), np.array(values, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class LinearClassifier:
    """The embedding classifier, with its lexical partner over the same labels."""

    labels: tuple[str, ...]
    weights: np.ndarray  # dim x labels
    bias: np.ndarray  # labels
    mean: np.ndarray  # dim: the training vectors' mean, subtracted first
    scale: float  # the centred training vectors' standard deviation
    lexical: GramClassifier

    def __post_init__(self):
        if self.weights.shape != (len(self.mean), len(self.labels)) or self.bias.shape != (len(self.labels),):
            raise ValueError("classifier shapes do not match its labels")
        if self.lexical.labels != self.labels:
            raise ValueError("the gram classifier's labels differ from the embedding classifier's")

    def logits(self, vectors: np.ndarray) -> np.ndarray:
        """Logits for one vector (labels,) or a batch (n, labels)."""
        return ((vectors - self.mean) / self.scale) @ self.weights + self.bias

    def parts(self) -> tuple[dict, dict[str, np.ndarray]]:
        """What a store writes: the names and numbers (JSON) and the arrays, by name."""
        g = self.lexical
        meta = {"labels": list(self.labels), "scale": self.scale, "grams": list(g.grams)}
        values = (self.weights, self.bias, self.mean, g.idf, g.weights, g.bias)
        return meta, dict(zip(CLASSIFIER_ARRAYS, values, strict=True))

    @classmethod
    def from_parts(cls, meta: dict, arrays) -> LinearClassifier:
        """The classifier a store wrote with `parts`; shapes are checked on construction."""
        labels = tuple(meta["labels"])
        lexical = GramClassifier(labels, tuple(meta["grams"]), arrays["gram_idf"], arrays["gram_weights"], arrays["gram_bias"])
        return cls(labels, arrays["weights"], arrays["bias"], arrays["mean"], float(meta["scale"]), lexical)
