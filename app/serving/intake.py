"""Image intake: uploads to model inputs, safely and off the event loop.

Uploaded bytes become an RGB image with the size checked before decoding, EXIF orientation
applied, any mode converted, and big JPEGs decoded at reduced size when the model needs less
(:func:`decode_image`); :class:`ImagePreparer` runs that and the model's preprocessing in the
decode thread pool. Errors are :class:`ImageError` with the HTTP status, the file's name and a
message that says what to send instead.
"""

from __future__ import annotations

import asyncio
import io
import warnings
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypeVar

from fastapi import File, UploadFile
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from app.schemas.common import BODY_ERRORS, ErrorMessage
from app.serving.registry import clip
from models.data.images import load_rgb, upright_size

FORMATS = {"JPEG", "PNG", "WEBP", "BMP", "GIF", "MPO"}  # MPO: multi-picture JPEG from cameras
ACCEPTED = "JPEG, PNG, WebP, BMP or GIF"
# EXIF orientations that rotate by 90 or 270 degrees, swapping width and height.


class ImageError(ValueError):
    def __init__(self, message: str, status_code: int = 422) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class DecodedImage:
    """``image`` is RGB, upright, possibly reduced; ``width`` x ``height`` is the size of the
    upload as a viewer shows it (after EXIF orientation), the frame boxes are reported in."""

    image: Image.Image
    width: int
    height: int


def decode_image(data: bytes, max_pixels: int, min_side: int | None = None) -> DecodedImage:
    """Decode an upload.

    Args:
        data: the file's bytes.
        max_pixels: refuse larger images before decoding a single pixel (decompression bombs).
        min_side: when given, JPEGs may be decoded at a reduced scale (1/2, 1/4, 1/8) as long
            as both sides stay at least this large: much faster for photos.
    """
    if not data:
        raise ImageError(f"the file is empty: send an image ({ACCEPTED})")
    try:
        with warnings.catch_warnings():  # our own pixel limit applies, below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))  # reads the header only
    except Image.DecompressionBombError as error:
        raise ImageError(
            f"{error}: the limit here is {max_pixels:,} pixels (D2L_MAX_IMAGE_PIXELS)", 413
        ) from None
    except UnidentifiedImageError:
        raise ImageError(f"the file is not an image that can be read: send {ACCEPTED}") from None
    except (OSError, ValueError) as error:
        raise ImageError(
            f"the image header could not be read ({error}): it may be truncated or corrupt"
        ) from None
    if image.format not in FORMATS:
        raise ImageError(f"{image.format} images are not accepted: send {ACCEPTED}", 415)
    width, height = image.size
    if width * height > max_pixels:
        raise ImageError(
            f"the image has {width}x{height} = {width * height:,} pixels, over the limit of "
            f"{max_pixels:,}: send a smaller image (the limit is D2L_MAX_IMAGE_PIXELS)",
            413,
        )
    width, height = upright_size(image)
    try:
        image = load_rgb(image, min_side)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ImageError(
            f"the image could not be decoded ({error}): it may be truncated or corrupt"
        ) from None
    return DecodedImage(image, width, height)


T = TypeVar("T")

BATCH_DESCRIPTION = "Send several `file` parts; they run together in the model's batches."
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

    def __init__(self, pool: Executor, max_pixels: int, max_batch_images: int = 32) -> None:
        self.pool = pool
        self.max_pixels = max_pixels
        self.max_batch_images = max_batch_images

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

    async def prepare_batch(
        self,
        uploads: list[UploadFile],
        reserve: Callable[[int], None],
        min_side: int | None,
        preprocess: Callable[[Image.Image], Tensor] | None = None,
    ) -> list[PreparedImage]:
        """A batch endpoint's uploads: at most ``max_batch_images`` (413 beyond), capacity held
        for all of them (``reserve``, 503 when they do not fit) before any is decoded."""
        check_batch_size(len(uploads), self.max_batch_images)
        reserve(len(uploads))
        return await self.prepare_all(uploads, min_side, preprocess)

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
