"""Micro-batching of query encodes: concurrent callers share one `encode` per batch.

A transformer encodes 16 short questions in little more time than one (the matrix
products are as wide as the batch), so a server answering many clients at once gets its
throughput from batching. Callers block in `encode_queries` while one worker thread runs
the batches: it takes every request waiting, waits `window` seconds more for company
(unless `max_batch` texts are already there), encodes them together and hands each caller
its rows. Requests that arrive during an encode form the next batch, so under load the
window rarely matters and with one client it costs at most `window` per question.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from models.embed import KefuEmbeddings


@dataclass
class _Request:
    texts: list[str]
    done: threading.Event = field(default_factory=threading.Event)
    vectors: np.ndarray | None = None
    error: BaseException | None = None


@dataclass(frozen=True)
class BatchStats:
    """Encodes run and questions encoded since start (for metrics)."""

    batches: int
    texts: int


class MicroBatcher(KefuEmbeddings):
    """Wraps an embedder; `encode_queries` from many threads share encodes. Passages
    (ingest) go straight through: they come in large batches already."""

    batching = True  # what the facade checks, without importing this module before it is needed

    def __init__(self, inner: KefuEmbeddings, window: float = 0.002, max_batch: int = 64,
                 on_batch=None):
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.window = window
        self.max_batch = max_batch
        self.on_batch = on_batch  # called with the batch size after each encode (metrics)
        self._pending: deque[_Request] = deque()
        self._cond = threading.Condition()
        self._worker: threading.Thread | None = None
        self._batches = 0
        self._texts = 0

    def encode_passages(self, texts, progress=None):
        return self.inner.encode_passages(texts, progress)

    def trace_queries(self) -> bool:
        return self.inner.trace_queries()

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        req = _Request(list(texts))
        with self._cond:
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="kefu-encode", daemon=True)
                self._worker.start()
            self._pending.append(req)
            self._cond.notify()
        req.done.wait()
        if req.error is not None:
            raise req.error
        return req.vectors

    def stats(self) -> BatchStats:
        return BatchStats(self._batches, self._texts)

    def _take(self) -> list[_Request]:
        """Wait for a request, then gather more until the window closes or the batch is full."""
        with self._cond:
            while not self._pending:
                self._cond.wait()
            deadline = time.monotonic() + self.window
            while True:
                queued = sum(len(r.texts) for r in self._pending)
                left = deadline - time.monotonic()
                if queued >= self.max_batch or left <= 0:
                    break
                self._cond.wait(left)
            batch, n = [], 0
            # Whole requests only; the first is always taken even if larger than max_batch.
            while self._pending and (not batch or n + len(self._pending[0].texts) <= self.max_batch):
                r = self._pending.popleft()
                batch.append(r)
                n += len(r.texts)
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            texts = [t for r in batch for t in r.texts]
            try:
                vectors = self.inner.encode_queries(texts)
            except BaseException as e:  # noqa: BLE001 - every waiting caller must hear of it
                for r in batch:
                    r.error = e
                    r.done.set()
                continue
            start = 0
            for r in batch:
                r.vectors = vectors[start:start + len(r.texts)]
                start += len(r.texts)
                r.done.set()
            self._batches += 1
            self._texts += len(texts)
            if self.on_batch is not None:
                self.on_batch(len(texts))
