"""The serving runtime's objects as the app holds them (``app.state``, set up in the lifespan):
the one place routes and route classes reach them, as plain getters and as ``Annotated``
dependency aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.serving.intake import ImagePreparer
from app.serving.memory import IdleRelease
from app.serving.registry import ModelRegistry
from app.serving.workpool import WorkPool


def get_registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


def get_image_preparer(request: Request) -> ImagePreparer:
    return request.app.state.images


def get_geometry_pool(request: Request) -> WorkPool:
    return request.app.state.geometry


def get_memory(request: Request) -> IdleRelease:
    return request.app.state.memory


RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
ImagesDep = Annotated[ImagePreparer, Depends(get_image_preparer)]
GeometryPoolDep = Annotated[WorkPool, Depends(get_geometry_pool)]
