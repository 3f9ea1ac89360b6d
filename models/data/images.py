"""Reading image files as upright RGB, the one way training and serving both do it."""

from __future__ import annotations

from dataclasses import dataclass
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
    """Decode an opened image: first frame, EXIF orientation applied, converted to RGB; with
    ``min_side``, reduced (JPEGs while decoding) by the largest factor that keeps both sides at
    least ``min_side``."""
    if min_side is not None and image.format in DRAFT_FORMATS:
        image.draft("RGB", (min_side, min_side))
    image.seek(0)  # the first frame of an animation
    image.load()
    image = to_rgb(ImageOps.exif_transpose(image))
    factor = min(image.size) // min_side if min_side is not None else 1
    # What the draft does for JPEGs, for every format: a large upload becomes small at once,
    # and what waits for the model (or is converted to floats) is that small image.
    return image.reduce(factor) if factor >= 2 else image


def read_rgb(file: BinaryIO, min_side: int | None = None) -> Image.Image:
    """Open and decode a trusted file (a training set); uploads go through the service's
    checked decoder instead."""
    with Image.open(file) as image:
        return load_rgb(image, min_side)


@dataclass(frozen=True)
class InputLimits:
    """The smallest and most elongated image a model can take (its shorter side at least
    ``min_side`` pixels, its longer side at most ``max_aspect`` times its shorter one); the
    service refuses others with a 422 that names the limit instead of failing in the model."""

    min_side: int = 1
    max_aspect: float | None = None

    def __post_init__(self) -> None:
        if self.min_side < 1:
            raise ValueError(f"min_side must be at least 1, got {self.min_side}")
        if self.max_aspect is not None and self.max_aspect < 1:
            raise ValueError(f"max_aspect must be at least 1, got {self.max_aspect}")

    def problem(self, width: int, height: int) -> str | None:
        """Why a ``width`` x ``height`` image is outside these limits, or None."""
        short, long = sorted((width, height))
        if short < self.min_side:
            return f"its shorter side is {short} px, under the {self.min_side} px this model needs"
        if self.max_aspect is not None and long > self.max_aspect * short:
            return (
                f"its sides are {long / short:,.1f} to 1, more elongated than the "
                f"{self.max_aspect:g} to 1 this model takes"
            )
        return None
