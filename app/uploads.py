"""Uploaded image files to decoded images, off the event loop, with errors naming the file."""

from __future__ import annotations

from fastapi import File, UploadFile
from fastapi.concurrency import run_in_threadpool

from app.imaging import DecodedImage, ImageError, decode_image
from app.schemas.common import BODY_ERRORS, ErrorMessage

IMAGE_FILE = File(description="An image: JPEG, PNG, WebP, BMP or GIF (first frame).")


def image_route_errors(kind: str) -> dict[int | str, dict]:
    """The error answers of an endpoint that takes image uploads, for the OpenAPI schema."""
    return {
        **BODY_ERRORS,
        404: {"model": ErrorMessage, "description": f"No {kind} model of that name."},
        413: {"model": ErrorMessage, "description": "Body or image over the size limits."},
        415: {"model": ErrorMessage, "description": "Not an accepted image format."},
        503: {"model": ErrorMessage, "description": "The model is loading or failed to load."},
    }


async def decode_upload(upload: UploadFile, max_pixels: int, min_side: int | None) -> DecodedImage:
    """Read and decode one upload in a worker thread; JPEGs may be decoded down to
    ``min_side``."""
    data = await upload.read()
    try:
        return await run_in_threadpool(decode_image, data, max_pixels, min_side)
    except ImageError as error:
        raise ImageError(f"{upload.filename or 'file'}: {error}", error.status_code) from None


def check_batch_size(count: int, limit: int) -> None:
    if count > limit:
        raise ImageError(
            f"{count} images in one batch, over the limit of {limit}: split them (the limit "
            f"is D2L_MAX_BATCH_IMAGES)",
            413,
        )
