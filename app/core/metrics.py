"""Prometheus metrics of one app (its own collector registry, so several apps in one process,
as in the tests, do not mix their figures); ``GET /metrics`` serves them.

Requests are counted by route template (``/classify``, not the full URL: bounded label values),
method and status. Model figures come from the batchers (batch sizes, inference time) and, at
scrape time, from the collector the app registers (``app.serving.collectors``: queue depth,
each model's state, bodies arriving, the GPU); the process and platform collectors add memory,
CPU, open files and the Python version.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class ServiceMetrics:
    """The service's metrics; ``batch_done`` is what the batchers report to."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # The process's memory, CPU time, open files and start time (Linux), Python's version and
        # garbage collections: what an alert on a leaking or stuck replica needs.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.requests = Counter(
            "d2l_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "d2l_http_request_duration_seconds",
            "Time from request to response, by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "d2l_model_batch_size",
            "Images per forward pass, by model.",
            ["model"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.inference = Histogram(
            "d2l_model_inference_seconds",
            "Time of one batch (forward pass and post-processing), by model.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def batch_done(self, model: str, size: int, seconds: float) -> None:
        self.batch_size.labels(model).observe(size)
        self.inference.labels(model).observe(seconds)

    def watch(self, collector: Collector) -> None:
        """Report what ``collector`` reads at scrape time (the models, queues and intake:
        ``app.serving.collectors``)."""
        self.registry.register(collector)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
