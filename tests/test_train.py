"""The classifiers learned at ingest, on hand-written phrasings: the gram classifier hears
the words around a product, and both store as plain numbers and strings. No model."""

import numpy as np
import pytest

from core.classifier import OOS_LABEL, GramClassifier, gram_rows, label_category, topic_label
from ingest.train import label_space, phrasings, train_classifier
from ingest.validate import load_kb
from tests.conftest import REPO

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


def test_each_category_level_faq_is_a_label_of_its_own():
    """Pooled per category, a dozen unrelated topics spread over the space and drew case
    questions in; each FAQ that fits a category but no case gets its own label."""
    kb = load_kb(REPO / "kb")
    topics = [f for f in kb.faqs if not f.case]
    space = label_space(kb)
    assert len({f.category for f in topics}) < len(topics)  # several topics share a category
    assert [label for label in space if label.startswith("cat:")] == sorted(topic_label(f.category, f.passage) for f in topics)
    assert space[: len(kb.cases)] == tuple(c.title for c in kb.cases) and space[-1] == OOS_LABEL
    by_text = {p.text: p.label for p in phrasings(kb) if p.kind == "faq"}
    for f in topics:
        assert {by_text[q] for q in (f.question, *f.variants)} == {topic_label(f.category, f.passage)}
        assert label_category(topic_label(f.category, f.passage)) == f.category
    assert label_category("cat:支付与退款问题") == "支付与退款问题" and label_category("发票问题") is None
