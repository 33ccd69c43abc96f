"""``GET /metrics``: the server's counters in the Prometheus text format (what TEI and infinity
operators scrape). One registry per app, so that several apps in one process (tests, an app
embedded in a larger one) never mix or collide.

Metrics (all prefixed ``jina_clip_``): ``requests_total{route,status}``,
``errors_total{code}``, ``inputs_embedded_total{modality}``, ``queue_depth{batcher}``, and per
batcher the histograms ``batch_items``, ``batch_tokens`` (padded text tokens; images count 1),
``queue_seconds`` (from a request's arrival in the queue to its batch's start) and
``model_seconds`` (one model call).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from .batcher import BatchReport

__all__ = ["CONTENT_TYPE", "ServerMetrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_TOKEN_BUCKETS = (16, 64, 256, 1024, 2048, 4096, 8192, 16384, 65536)
_TIME_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class ServerMetrics:
    """The app's metrics. ``routes`` are the paths counted by name; any other path (a
    scanner's guesses) is counted as ``other``, so labels stay bounded."""

    def __init__(self, routes: Iterable[str]) -> None:
        self.registry = CollectorRegistry()
        self.routes = frozenset(routes)
        r = self.registry
        self.requests = Counter("jina_clip_requests", "HTTP requests answered, by route and "
                                "status.", ["route", "status"], registry=r)
        self.errors = Counter("jina_clip_errors", "Error responses, by error code.", ["code"],
                              registry=r)
        self.inputs = Counter("jina_clip_inputs_embedded", "Inputs embedded in answered "
                              "requests, by modality.", ["modality"], registry=r)
        self.queue_depth = Gauge("jina_clip_queue_depth", "Items waiting for a batch.",
                                 ["batcher"], registry=r)
        self.batch_items = Histogram("jina_clip_batch_items", "Items per model call.",
                                     ["batcher"], buckets=_SIZE_BUCKETS, registry=r)
        self.batch_tokens = Histogram("jina_clip_batch_tokens", "Padded text tokens per model "
                                      "call (images: items).", ["batcher"],
                                      buckets=_TOKEN_BUCKETS, registry=r)
        self.queue_seconds = Histogram("jina_clip_queue_seconds", "Seconds a request waited "
                                       "in the queue before its batch started.", ["batcher"],
                                       buckets=_TIME_BUCKETS, registry=r)
        self.model_seconds = Histogram("jina_clip_model_seconds", "Seconds per model call.",
                                       ["batcher"], buckets=_TIME_BUCKETS, registry=r)

    def route(self, path: str) -> str:
        return path if path in self.routes else "other"

    def watch_queue(self, name: str, depth: Callable[[], int]) -> None:
        """Report ``depth()`` as the queue depth of batcher ``name`` at each scrape."""
        self.queue_depth.labels(name).set_function(depth)

    def observe_batch(self, report: BatchReport) -> None:
        """The batcher's hook: one model call."""
        name = report.batcher
        self.batch_items.labels(name).observe(report.items)
        self.batch_tokens.labels(name).observe(report.tokens)
        self.model_seconds.labels(name).observe(report.model_seconds)
        for wait in report.queue_seconds:
            self.queue_seconds.labels(name).observe(wait)

    def render(self) -> bytes:
        return generate_latest(self.registry)
