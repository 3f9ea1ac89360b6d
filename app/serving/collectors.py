"""What the metrics read at scrape time from the serving runtime: each model's state, queue and
work taken in, the geometry pool's, the request bodies still arriving, memory releases, and the
GPU's memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import torch
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from app.serving.capacity import Capacity
from app.serving.memory import IdleRelease
from app.serving.registry import ModelRegistry
from app.serving.served import ModelState


class BodiesArriving(Protocol):
    """The request bodies still being received (``app.middleware.body_limit.Arrivals``)."""

    in_all: int
    bytes: int


@dataclass(frozen=True)
class IntakeFigures:
    """Request bodies still arriving (from ``arrivals``) and memory given back (``memory``)."""

    arrivals: BodiesArriving
    memory: IdleRelease


class ServingCollector(Collector):
    """The serving runtime's figures, read when ``/metrics`` is scraped (each source is looked
    up then: the app builds them in its lifespan)."""

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
        for model in registry.models:
            counts[model.state] += 1
            for state in ModelState:
                model_state.add_metric(
                    [model.name, model.entry.task, state.value], 1 if model.state is state else 0
                )
            if model.batcher is not None:
                depth.add_metric([model.name], model.batcher.depth)
                in_progress.add_metric([model.name], model.batcher.capacity.in_use)
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
