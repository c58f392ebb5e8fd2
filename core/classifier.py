"""A linear classifier over query embeddings, learned at ingest from the KB's own phrasings.

Labels are case titles, `cat:<category>` for topics that fit a category but no case, and
`oos` for the examples of questions the KB does not cover. Only numbers are stored (no
pickle): the weights, the bias, the centring vector and the scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OOS_LABEL = "oos"
CATEGORY_PREFIX = "cat:"


def category_label(category: str) -> str:
    return CATEGORY_PREFIX + category


@dataclass(frozen=True, eq=False)
class LinearClassifier:
    labels: tuple[str, ...]
    weights: np.ndarray  # dim x labels
    bias: np.ndarray  # labels
    mean: np.ndarray  # dim: the training vectors' mean, subtracted first
    scale: float  # the centred training vectors' standard deviation

    def logits(self, vectors: np.ndarray) -> np.ndarray:
        """Logits for one vector (labels,) or a batch (n, labels)."""
        return ((vectors - self.mean) / self.scale) @ self.weights + self.bias
