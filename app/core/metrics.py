"""Prometheus metrics of one app (its own collector registry, so several apps in one process,
as in the tests, do not mix their figures); ``GET /metrics`` serves them.

Requests are counted by route template (``/classify``, not the full URL: bounded label values),
method and status. Model figures come from the batchers (batch sizes, inference time) and, at
scrape time, from the model registry (queue depth, each model's state) and the GPU; the process
and platform collectors add memory, CPU, open files and the Python version.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from app.middleware.body_limit import Arrivals
from app.serving.capacity import Capacity
from app.serving.memory import IdleRelease
from app.serving.registry import ModelRegistry, ModelState

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

    def watch(
        self,
        registry: Callable[[], ModelRegistry | None],
        geometry: Callable[[], Capacity | None] = lambda: None,
        intake: Callable[[], IntakeFigures | None] = lambda: None,
    ) -> None:
        """Report the models of the registry that ``registry()`` returns at scrape time, the
        geometry pool's capacity, and the bodies arriving and memory releases of ``intake()``."""
        self.registry.register(_RegistryCollector(registry, geometry, intake))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


@dataclass(frozen=True)
class IntakeFigures:
    """Request bodies still arriving (from ``arrivals``) and memory given back (``memory``)."""

    arrivals: Arrivals
    memory: IdleRelease


class _RegistryCollector(Collector):
    def __init__(
        self,
        registry: Callable[[], ModelRegistry | None],
        geometry: Callable[[], Capacity | None],
        intake: Callable[[], IntakeFigures | None],
    ) -> None:
        self._registry = registry
        self._geometry = geometry
        self._intake = intake

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        intake = self._intake()
        if intake is not None:
            yield GaugeMetricFamily(
                "d2l_bodies_arriving",
                "Request bodies being received (they hold no model or geometry capacity).",
                value=intake.arrivals.in_all,
            )
            yield GaugeMetricFamily(
                "d2l_body_bytes_arriving",
                "Bytes received so far of the request bodies still arriving.",
                value=intake.arrivals.bytes,
            )
            yield CounterMetricFamily(
                "d2l_memory_releases",
                "Times freed memory was given back to the system after the service fell idle.",
                value=intake.memory.releases,
            )
            yield GaugeMetricFamily(
                "d2l_memory_settled",
                "1 while the service is idle and has given back what it freed since its last "
                "request, else 0.",
                value=int(intake.memory.settled),
            )
        geometry = self._geometry()
        if geometry is not None:
            yield GaugeMetricFamily(
                "d2l_geometry_in_progress",
                "Geometry requests taken in (received, queued or computing).",
                value=geometry.in_use,
            )
        registry = self._registry()
        if registry is None:
            return
        depth = GaugeMetricFamily(
            "d2l_model_queue_depth",
            "Images waiting for a forward pass, by model.",
            labels=["model"],
        )
        in_progress = GaugeMetricFamily(
            "d2l_model_in_progress",
            "Images taken in (received, decoded, queued or in a forward pass), by model.",
            labels=["model"],
        )
        states = GaugeMetricFamily(
            "d2l_models", "Models by state (loading, ready, failed).", labels=["state"]
        )
        # One series per model and state, 1 for the state it is in: an alert can name the model.
        model_state = GaugeMetricFamily(
            "d2l_model_state",
            "1 for the state each model is in (loading, ready, failed), 0 for the others.",
            labels=["model", "task", "state"],
        )
        counts = dict.fromkeys(ModelState, 0)
        for record in registry.records:
            counts[record.state] += 1
            for state in ModelState:
                model_state.add_metric(
                    [record.entry.name, record.entry.task, state.value],
                    1 if record.state is state else 0,
                )
            batcher = record.served.batcher if record.served is not None else None
            if batcher is not None:
                depth.add_metric([record.entry.name], batcher.depth)
                in_progress.add_metric([record.entry.name], batcher.capacity.in_use)
        for state, count in counts.items():
            states.add_metric([state.value], count)
        yield depth
        yield in_progress
        yield states
        yield model_state
        device = registry.device
        if device.type == "cuda":
            memory = GaugeMetricFamily(
                "d2l_gpu_memory_bytes",
                "GPU memory held by tensors (allocated) and by PyTorch's cache (reserved).",
                labels=["device", "kind"],
            )
            memory.add_metric([str(device), "allocated"], torch.cuda.memory_allocated(device))
            memory.add_metric([str(device), "reserved"], torch.cuda.memory_reserved(device))
            yield memory
