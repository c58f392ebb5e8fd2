"""Micro-batching: concurrent query encodes share encodes and each caller gets its own rows."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from models.batch import MicroBatcher
from models.embed import HashEmbeddings


class SlowCounting(HashEmbeddings):
    """The hash embedder, slowed like a model and counting its encodes."""

    def __init__(self, fail_on: str | None = None):
        super().__init__(64)
        self.calls: list[int] = []
        self.fail_on = fail_on
        self.lock = threading.Lock()

    def encode_queries(self, texts):
        with self.lock:
            self.calls.append(len(texts))
        time.sleep(0.03)
        if self.fail_on in texts:
            raise RuntimeError("model failed")
        return super().encode_queries(texts)


def test_concurrent_callers_share_encodes_and_get_their_own_rows():
    inner = SlowCounting()
    batcher = MicroBatcher(inner, window=0.005, max_batch=64)
    questions = [[f"问题{i}"] if i % 3 else [f"问题{i}", f"追问{i}"] for i in range(32)]
    barrier = threading.Barrier(32)

    def call(texts):
        barrier.wait()
        return batcher.encode_queries(texts)

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(call, questions))
    for texts, got in zip(questions, results):
        assert np.array_equal(got, HashEmbeddings(64).encode_queries(texts))
    assert sum(inner.calls) == sum(len(q) for q in questions)
    assert len(inner.calls) <= 4, inner.calls  # 43 texts in a handful of encodes, not 32
    stats = batcher.stats()
    assert stats.texts == sum(inner.calls) and stats.batches == len(inner.calls)


def test_batches_stay_within_max_batch():
    inner = SlowCounting()
    batcher = MicroBatcher(inner, window=0.01, max_batch=8)
    with ThreadPoolExecutor(20) as pool:
        list(pool.map(lambda i: batcher.encode_queries([f"q{i}"]), range(20)))
    assert max(inner.calls) <= 8 and sum(inner.calls) == 20


def test_an_encode_error_reaches_every_caller_of_that_batch_and_the_batcher_goes_on():
    inner = SlowCounting(fail_on="坏")
    batcher = MicroBatcher(inner, window=0.02, max_batch=64)
    barrier = threading.Barrier(2)

    def call(text):
        barrier.wait()
        return batcher.encode_queries([text])

    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(call, t) for t in ("坏", "好")]
        errors = [f.exception() for f in futures]
    assert all(isinstance(e, RuntimeError) for e in errors)
    assert batcher.encode_queries(["好"]).shape == (1, 64)


def test_passages_and_empty_input_go_straight_through():
    inner = SlowCounting()
    batcher = MicroBatcher(inner)
    assert batcher.encode_queries([]).shape == (0, 64) and inner.calls == []
    assert batcher.encode_passages(["一段文字"]).shape == (1, 64) and inner.calls == []
    assert batcher.name == inner.name and batcher.dim == 64


@pytest.mark.parametrize("window", [0.0, 0.002])
def test_one_caller_alone_waits_at_most_the_window(window):
    batcher = MicroBatcher(HashEmbeddings(64), window=window)
    batcher.encode_queries(["预热"])
    t = time.perf_counter()
    batcher.encode_queries(["一个问题"])
    assert time.perf_counter() - t < window + 0.05
