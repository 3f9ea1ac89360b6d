"""Uploaded image files to decoded images and model inputs, in the decode thread pool (never on
the event loop), with errors naming the file."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypeVar

from fastapi import File, UploadFile
from PIL import Image
from torch import Tensor

from app.imaging import DecodedImage, ImageError, decode_image
from app.schemas.common import BODY_ERRORS, ErrorMessage
from app.serving.registry import clip

T = TypeVar("T")

IMAGE_FILE = File(description="An image: JPEG, PNG, WebP, BMP or GIF (first frame).")


def image_route_errors(kind: str) -> dict[int | str, dict]:
    """The error answers of an endpoint that takes image uploads, for the OpenAPI schema."""
    return {
        **BODY_ERRORS,
        404: {"model": ErrorMessage, "description": f"No {kind} model of that name."},
        413: {"model": ErrorMessage, "description": "Body or image over the size limits."},
        415: {"model": ErrorMessage, "description": "Not an accepted image format."},
        503: {
            "model": ErrorMessage,
            "description": "The model is loading, failed to load, or its queue is full "
            "(Retry-After says when to retry).",
        },
        504: {"model": ErrorMessage, "description": "The model did not answer in time."},
    }


@dataclass(frozen=True)
class PreparedImage:
    """An upload decoded (``decoded``) and, when asked, turned into a model input."""

    decoded: DecodedImage
    input: Tensor | None


class ImagePreparer:
    """Decodes and preprocesses uploads in its thread pool (Pillow releases the GIL while it
    decodes, so the threads run in parallel)."""

    def __init__(self, pool: Executor, max_pixels: int) -> None:
        self.pool = pool
        self.max_pixels = max_pixels

    async def prepare(
        self,
        upload: UploadFile,
        min_side: int | None,
        preprocess: Callable[[Image.Image], Tensor] | None = None,
    ) -> PreparedImage:
        """Read and decode one upload (JPEGs may be decoded down to ``min_side``), then
        ``preprocess`` the image, in one trip to the pool."""
        data = await upload.read()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.pool, self._prepare, data, min_side, preprocess)
        except ImageError as error:
            name = clip(upload.filename or "file")
            raise ImageError(f"{name}: {error}", error.status_code) from None

    async def prepare_all(
        self,
        uploads: list[UploadFile],
        min_side: int | None,
        preprocess: Callable[[Image.Image], Tensor] | None = None,
    ) -> list[PreparedImage]:
        return list(await asyncio.gather(*(self.prepare(u, min_side, preprocess) for u in uploads)))

    async def run(self, work: Callable[..., T], *args: object) -> T:
        """Other image work (drawing, encoding) in the same pool."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, work, *args)

    def _prepare(
        self,
        data: bytes,
        min_side: int | None,
        preprocess: Callable[[Image.Image], Tensor] | None,
    ) -> PreparedImage:
        decoded = decode_image(data, self.max_pixels, min_side)
        return PreparedImage(decoded, preprocess(decoded.image) if preprocess else None)


def check_batch_size(count: int, limit: int) -> None:
    if count > limit:
        raise ImageError(
            f"{count} images in one batch, over the limit of {limit}: split them (the limit "
            f"is D2L_MAX_BATCH_IMAGES)",
            413,
        )
