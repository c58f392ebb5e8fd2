"""Prometheus metrics: requests, latency, answers and refusals, encode batches, the live version.

With several workers (`kefu api --workers N`) each process writes its samples to
PROMETHEUS_MULTIPROC_DIR, which `kefu api` creates empty before the workers start (the
variable must be set before prometheus_client is first imported), and a scrape sums them.
"""

from __future__ import annotations

import os
import threading
import time

from fastapi import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The process's metrics, created once (a second registration of a name is an error)."""

    _instance: Metrics | None = None
    _lock = threading.Lock()

    def __init__(self):
        self.requests = Counter("kefu_http_requests_total", "HTTP requests by route and status", ["route", "method", "status"])
        self.latency = Histogram("kefu_http_request_seconds", "HTTP request latency", ["route"], buckets=_LATENCY_BUCKETS)
        self.answers = Counter("kefu_answers_total", "Answers by role and how they were reached (faq, case, category, refused, none)",
                               ["role", "route"])
        self.refusals = Counter("kefu_refusals_total", "Questions the knowledge base does not cover (routed to a human)", ["role"])
        self.batch = Histogram("kefu_encode_batch_size", "Questions per encode (micro-batching)", buckets=(1, 2, 4, 8, 16, 32, 64, 128))
        self.live = Gauge("kefu_live_version", "1 for the index version this process serves", ["version"],
                          multiprocess_mode="livemax")
        self._live_name = ""

    @classmethod
    def get(cls) -> Metrics:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def set_live(self, version: str) -> None:
        if version and version != self._live_name:
            if self._live_name:
                self.live.labels(self._live_name).set(0)
            self.live.labels(version).set(1)
            self._live_name = version

    def scrape(self) -> Response:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()  # a fresh one per scrape, summing every worker's files
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = REGISTRY
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class Observe:
    """Count and time every request by its route template (bounded label values); plain
    ASGI, so that it costs microseconds and also sees the 413s and 429s of the limits."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an unhandled exception leaves here before the 500 handler answers

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            label = getattr(scope.get("route"), "path", "other")
            self.metrics.latency.labels(label).observe(time.perf_counter() - started)
            self.metrics.requests.labels(label, scope["method"], str(status)).inc()


def process_exit() -> None:
    """Drop this process's live gauges from the multiprocess files (a worker stopping)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(os.getpid())
