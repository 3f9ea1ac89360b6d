"""The ASGI application: ``uvicorn app.main:app``.

``create_app(settings)`` builds it; the lifespan resolves the device, reads the manifest and
loads the models in a worker thread, so ``/health/live`` answers while they load and
``/health/ready`` turns green when all are warm.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.body_limit import BodySizeLimitMiddleware
from app.errors import install_error_handlers
from app.routers import classify, detect, geometry, health, words
from app.serving.loaders import LOADERS
from app.serving.registry import Loader, ModelRegistry
from app.settings import Settings
from models.device import describe_device, resolve_device

logger = logging.getLogger("app")

DESCRIPTION = (
    "REST service for the computer-vision and NLP-pretraining models of *Dive into Deep "
    "Learning*: box geometry (IoU, NMS, anchors, offset coding, multibox detection, RoI "
    "pooling, transposed convolution), image classification with a fine-tuned ResNet-18, SSD "
    "object detection and word2vec similarity queries. "
    "Boxes are "
    "[x1, y1, x2, y2] unless a format says otherwise."
)


def create_app(
    settings: Settings | None = None, loaders: Mapping[str, Loader] = LOADERS
) -> FastAPI:
    settings = settings or Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        device = resolve_device(settings.device)
        logger.info("serving on %s", describe_device(device))
        registry = ModelRegistry(settings.manifest_path, device, loaders)
        app.state.registry = registry
        loading = asyncio.create_task(asyncio.to_thread(registry.load_all))
        yield
        await loading

    app = FastAPI(
        title="d2l-serve",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(geometry.router)
    app.include_router(words.router)
    app.include_router(detect.router)
    app.include_router(classify.router)
    return app


app = create_app()
