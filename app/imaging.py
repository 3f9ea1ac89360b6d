"""Uploaded bytes to an RGB image, safely: size checked before decoding, EXIF orientation
applied, any mode converted, and big JPEGs decoded at reduced size when the model needs less.

Runs in a worker thread (decoding is CPU work); errors are :class:`ImageError` with the HTTP
status and a message that says what to send instead.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from models.data.images import load_rgb

FORMATS = {"JPEG", "PNG", "WEBP", "BMP", "GIF", "MPO"}  # MPO: multi-picture JPEG from cameras
ACCEPTED = "JPEG, PNG, WebP, BMP or GIF"
# EXIF orientations that rotate by 90 or 270 degrees, swapping width and height.
SWAPPING_ORIENTATIONS = {5, 6, 7, 8}


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
    orientation = image.getexif().get(0x0112, 1)
    if orientation in SWAPPING_ORIENTATIONS:
        width, height = height, width
    try:
        image = load_rgb(image, min_side)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ImageError(
            f"the image could not be decoded ({error}): it may be truncated or corrupt"
        ) from None
    return DecodedImage(image, width, height)
