"""The ASGI application: ``uvicorn app.main:app``.

``create_app(settings)`` builds it. The lifespan resolves device and dtype, reads the manifest
and loads the models (in worker threads, so ``/health/live`` answers while they load and
``/health/ready`` turns green when all are warm; with ``D2L_STRICT=1`` the start waits for them
and fails when one fails). On shutdown (SIGTERM: the server stops accepting and waits for the
requests in flight), every queued image is answered before the process exits; a load still
running is abandoned, so it cannot hold the exit.

Serve it with ``python -m app.server`` (``make run``): uvicorn with this service's HTTP limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import torch
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from app.core.config import BatchingOverride, Settings
from app.core.cors import cors_summary
from app.core.errors import install_error_handlers
from app.core.logging import configure_logging
from app.core.metrics import ServiceMetrics
from app.core.openapi import install_openapi
from app.core.security import AdminKeyDep, APIKeyDep
from app.middleware.access import AccessMiddleware
from app.middleware.body_limit import Arrivals, BodySizeLimitMiddleware, UploadLimits
from app.middleware.head import HeadAsGetMiddleware
from app.middleware.observability import REQUEST_ID_HEADER, RequestObservationMiddleware
from app.routers import datasets, geometry, health, metrics, models, training_jobs
from app.routers.ui import install_ui
from app.serving.batcher import BatchingConfig
from app.serving.collectors import IntakeFigures, ServingCollector
from app.serving.intake import ImageLimits, ImagePreparer
from app.serving.memory import IdleRelease
from app.serving.registry import LoadLimits, ModelRegistry
from app.serving.tasks.base import Placement, ServedTask
from app.serving.tasks.catalog import TASKS
from app.serving.workpool import WorkPool
from app.training.service import TrainingService
from models.device import describe_device, resolve_device, resolve_dtype
from models.manifest import ManifestEntry

logger = logging.getLogger("app")

DESCRIPTION = (
    "REST service for the computer-vision and NLP-pretraining models of *Dive into Deep "
    "Learning*: box geometry (IoU, NMS, anchors, offset coding, multibox detection, RoI "
    "pooling, transposed convolution), image classification with a fine-tuned ResNet-18, SSD "
    "object detection and word2vec similarity queries. "
    "Boxes are "
    "[x1, y1, x2, y2] unless a format says otherwise."
)


class StartupError(RuntimeError):
    """D2L_STRICT=1 and a model failed to load."""


def create_app(
    settings: Settings | None = None,
    tasks: Mapping[str, type[ServedTask]] = TASKS,
) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)
    service_metrics = ServiceMetrics()

    def batching(entry: ManifestEntry, device: torch.device) -> BatchingConfig:
        # A manifest entry may say what batch size suits a device, e.g. {"cpu": {...}}.
        hint = (entry.card.batching or {}).get(device.type)
        size, wait = settings.batching_for(
            entry.name, BatchingOverride.model_validate(hint) if hint else None
        )
        return BatchingConfig(
            size, wait, settings.max_queue, settings.request_timeout_s, settings.max_queue_wait_s
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        device = resolve_device(settings.device)
        resolve_dtype(settings.dtype, device)  # a format the device cannot run stops the start
        placement = Placement(
            device, dtype_setting=settings.dtype, warm_up_batch=settings.warm_up_batch
        )
        logger.info("serving on %s, D2L_DTYPE=%s", describe_device(device), settings.dtype)
        logger.info("%s", cors_summary(settings.cors_origins))
        workers = settings.decode_workers or os.cpu_count() or 1
        pool = ThreadPoolExecutor(workers, thread_name_prefix="decode")
        image_limits = ImageLimits(
            settings.max_image_pixels, settings.max_image_side, settings.max_image_aspect
        )
        app.state.images = ImagePreparer(pool, image_limits, settings.max_batch_images)
        app.state.memory = IdleRelease(pool)
        geometry = WorkPool(
            "geometry", settings.geometry_workers, settings.geometry_queue, "D2L_GEOMETRY_QUEUE"
        )
        app.state.geometry = geometry
        limits = LoadLimits(
            settings.weights_root, settings.max_weights_bytes, settings.load_timeout_s
        )
        registry = ModelRegistry(
            settings.manifest_path,
            placement,
            tasks,
            batching,
            service_metrics,
            limits,
            settings.default_overrides(),
        )
        app.state.registry = registry
        training = TrainingService(settings, registry)
        app.state.training = training
        loading = asyncio.create_task(registry.load_all())
        if settings.strict:
            await loading
            if registry.failures:
                reasons = "; ".join(f"{name}: {why}" for name, why in registry.failures.items())
                await registry.close()
                pool.shutdown()
                geometry.close()
                raise StartupError(f"D2L_STRICT=1 and models failed to load: {reasons}")
        # Trained versions load after the manifest's models, without holding the start.
        starting = asyncio.create_task(_after(loading, training.start))
        try:
            yield
        finally:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            await training.close()
            loading.cancel()  # a load still running (or hung) is abandoned, not waited for
            with contextlib.suppress(asyncio.CancelledError):
                await loading
            await registry.close()  # answers every queued image
            pool.shutdown(wait=True)
            geometry.close()
            logger.info("shut down: every queued request was answered")

    app = FastAPI(
        title="d2l-serve",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by install_ui from local files, not from a CDN
        redoc_url=None,
        # Operation ids are the handlers' names (detect, similar...): what generated clients call.
        generate_unique_id_function=lambda route: route.name,
    )
    # Last added runs first: CORS outermost, so even errors carry its headers; keys are checked
    # before the body is read or limited, and every answer is observed.
    app.add_middleware(HeadAsGetMiddleware, router=app.router)
    arrivals = Arrivals(
        settings.max_bodies_arriving,
        settings.max_bodies_arriving_per_client,
        settings.max_bytes_arriving,
    )
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        timeout_s=settings.http_body_timeout_s,
        idle_timeout_s=settings.http_body_idle_timeout_s,
        arrivals=arrivals,
        uploads=UploadLimits(("/datasets",), settings.max_upload_bytes, settings.upload_timeout_s),
    )
    app.add_middleware(AccessMiddleware, api_key=settings.api_key, admin_key=settings.admin_key)
    app.add_middleware(RequestObservationMiddleware, metrics=service_metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key", REQUEST_ID_HEADER],
            expose_headers=[REQUEST_ID_HEADER, "Retry-After"],
            max_age=600,
        )
    app.state.settings = settings
    app.state.metrics = service_metrics
    # Read at scrape time: the lifespan builds these (None before it has).
    service_metrics.watch(
        ServingCollector(
            lambda: getattr(app.state, "registry", None),
            lambda: pool.capacity if (pool := getattr(app.state, "geometry", None)) else None,
            lambda: (
                IntakeFigures(arrivals, memory)
                if (memory := getattr(app.state, "memory", None))
                else None
            ),
        )
    )
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    # Declared only when a key is set, so the OpenAPI schema says what this server asks.
    protected = [APIKeyDep] if settings.api_key else []
    app.include_router(models.router, dependencies=protected)
    app.include_router(models.admin_router, dependencies=[AdminKeyDep])
    app.include_router(datasets.router, dependencies=[AdminKeyDep])
    app.include_router(training_jobs.router, dependencies=[AdminKeyDep])
    for part in geometry.routers:
        app.include_router(part, dependencies=protected)
    for task in tasks.values():  # each served task declares its routes
        app.include_router(task.routes(), dependencies=protected)
    install_ui(app)
    install_openapi(app)
    return app


async def _after(first: asyncio.Task, then: Callable[[], Awaitable[Any]]) -> None:
    """``then()`` once ``first`` has ended, however it ended."""
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.shield(first)
    await then()


app = create_app()
