"""Annotated dependency aliases: routers declare what they need, the app state provides it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.core.config import Settings
from app.serving.intake import ImagePreparer
from app.serving.registry import ModelRegistry


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


def get_image_preparer(request: Request) -> ImagePreparer:
    return request.app.state.images


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
ImagesDep = Annotated[ImagePreparer, Depends(get_image_preparer)]
