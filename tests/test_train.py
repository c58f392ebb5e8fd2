"""The classifiers learned at ingest, on hand-written phrasings: the gram classifier hears
the words around a product, and both store as plain numbers and strings. No model."""

import numpy as np
import pytest

from core.classifier import GramClassifier, gram_rows
from ingest.train import train_classifier

PHRASINGS = [
    ("想买这款耳机 现在有货吗", "oos"), ("还没下单 想问问这个有没有现货", "oos"), ("我想买个手机 哪款好", "oos"),
    ("想买台电视 能便宜点吗", "oos"),
    ("买的耳机坏了 没声音", "维修与检测服务对接"), ("收到的手机开不了机", "维修与检测服务对接"),
    ("买的电视屏幕有条线", "维修与检测服务对接"), ("到手的冰箱不制冷", "维修与检测服务对接"),
    ("发票开错了 抬头要改", "发票问题"), ("电子发票在哪下载", "发票问题"), ("发票怎么还没开", "发票问题"),
]
LABELS = ("维修与检测服务对接", "发票问题", "oos")


def trained():
    texts, labels = [t for t, _ in PHRASINGS], [y for _, y in PHRASINGS]
    vectors = np.random.default_rng(0).normal(size=(len(texts), 8)).astype(np.float32)  # says nothing
    return train_classifier(vectors, texts, labels, LABELS)


@pytest.mark.parametrize("query, label", [
    ("想买个平板 有现货吗", "oos"),  # before buying: the product does not matter
    ("买的平板坏了", "维修与检测服务对接"),
    ("发票能重新开吗", "发票问题"),
])
def test_the_gram_classifier_reads_the_words_around_the_product(query, label):
    g = trained().lexical
    assert g.labels[int(np.argmax(g.logits(query)))] == label


def test_a_text_of_unknown_characters_gets_the_bias_alone():
    g = trained().lexical
    assert np.array_equal(g.logits("㊣㊣"), g.bias)


def test_rows_are_unit_length_over_grams_seen_twice():
    g = trained().lexical
    assert "发票" in g.grams and "冰箱" not in g.grams  # 冰箱 is in one phrasing only
    rows, cols, values = gram_rows(["发票开错了", "㊣"], {x: j for j, x in enumerate(g.grams)}, g.idf)
    assert set(rows) == {0} and len(cols) == len(set(cols))  # the unknown text has no row
    assert np.linalg.norm(values) == pytest.approx(1.0)


def test_shapes_are_checked():
    g = trained().lexical
    with pytest.raises(ValueError):
        GramClassifier(g.labels, g.grams[:-1], g.idf, g.weights, g.bias)
