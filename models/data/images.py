"""Reading image files as upright RGB, the one way training and serving both do it."""

from __future__ import annotations

from typing import BinaryIO

from PIL import Image, ImageOps

# JPEG and MPO (camera multi-picture JPEG) can be decoded at 1/2, 1/4 or 1/8 scale.
DRAFT_FORMATS = {"JPEG", "MPO"}


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB from any mode; transparent pixels become white rather than whatever colour they
    happen to store."""
    if image.mode == "RGB":
        return image
    if image.mode in {"RGBA", "LA", "PA"} or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


# EXIF orientations that turn the picture a quarter: width and height swap once it is upright.
SWAPPING_ORIENTATIONS = {5, 6, 7, 8}


def upright_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) of an opened image as a viewer shows it (EXIF orientation applied), read
    from the header without decoding."""
    width, height = image.size
    if image.getexif().get(0x0112, 1) in SWAPPING_ORIENTATIONS:
        return height, width
    return width, height


def load_rgb(image: Image.Image, min_side: int | None = None) -> Image.Image:
    """Decode an opened image: first frame, JPEGs at the smallest scale that keeps both sides
    at least ``min_side`` (when given), EXIF orientation applied, converted to RGB."""
    if min_side is not None and image.format in DRAFT_FORMATS:
        image.draft("RGB", (min_side, min_side))
    image.seek(0)  # the first frame of an animation
    image.load()
    return to_rgb(ImageOps.exif_transpose(image))


def read_rgb(file: BinaryIO, min_side: int | None = None) -> Image.Image:
    """Open and decode a trusted file (a training set); uploads go through the service's
    checked decoder instead."""
    with Image.open(file) as image:
        return load_rgb(image, min_side)
