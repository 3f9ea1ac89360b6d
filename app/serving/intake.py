"""Image intake: uploads to model inputs, safely and off the event loop.

Uploaded bytes become an RGB image with its size, sides and shape checked before decoding (the
service's limits and the model's), EXIF orientation applied, any mode converted, and reduced
when the model needs less (:func:`decode_image`); :class:`ImagePreparer` runs that and the
model's preprocessing in the decode thread pool. Errors are :class:`ImageError` with the HTTP
status, the file's name and a message that says what to send instead.
"""

from __future__ import annotations

import asyncio
import io
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

from fastapi import File, UploadFile
from PIL import Image, PngImagePlugin, UnidentifiedImageError
from torch import Tensor

from app.core.errors import ServiceError, clip
from app.schemas.common import BODY_ERRORS, ErrorMessage
from app.serving.failures import one_line
from app.serving.memory import trimmed_after
from models.data.images import InputLimits, load_rgb, upright_size

FORMATS = {"JPEG", "PNG", "WEBP", "BMP", "GIF", "MPO"}  # MPO: multi-picture JPEG from cameras
ACCEPTED = "JPEG, PNG, WebP, BMP or GIF"
# Formats Pillow cannot open, known by their first bytes once it has failed to, so that they get
# 415 like the formats it opens but this service does not take (TIFF, ICO...), not "no image".
_SIGNATURES: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    ("SVG", lambda head: b"<svg" in head[:4096].lower()),
    ("PDF", lambda head: head.startswith(b"%PDF")),
    ("HEIC", lambda head: head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS),
    ("AVIF", lambda head: head[4:8] == b"ftyp" and head[8:12] in {b"avif", b"avis"}),
    ("JPEG XL", lambda head: head.startswith((b"\xff\x0a", b"\0\0\0\x0cJXL "))),
)
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
# Pillow refuses PNG metadata chunks that inflate beyond 1 MB; colour profiles of printers and
# cameras reach a few MB. The body limit bounds what inflates more.
PngImagePlugin.MAX_TEXT_CHUNK = max(PngImagePlugin.MAX_TEXT_CHUNK, 16 * 1024 * 1024)


class ImageError(ServiceError):
    """An upload that is not an image this service takes (422), too large (413) or of a format
    it does not serve (415)."""

    def __init__(self, message: str, status_code: int = 422) -> None:
        super().__init__(message, status_code=status_code, loc=("body", "file"))


@dataclass(frozen=True)
class ImageLimits:
    """What any upload may be, checked from its header before a pixel is decoded: at most
    ``max_pixels`` pixels (413), ``max_side`` pixels on a side (413), and a longer side at most
    ``max_aspect`` times the shorter (422). Together they bound what one decode allocates."""

    max_pixels: int = 40_000_000
    max_side: int = 16_384
    max_aspect: float = 20.0

    def check(self, width: int, height: int) -> None:
        if width * height > self.max_pixels:
            raise ImageError(
                f"the image has {width}x{height} = {width * height:,} pixels, over the limit of "
                f"{self.max_pixels:,}: send a smaller image (the limit is D2L_MAX_IMAGE_PIXELS)",
                413,
            )
        if max(width, height) > self.max_side:
            raise ImageError(
                f"the image is {width}x{height} pixels, over the limit of {self.max_side:,} on "
                f"a side: send a smaller image (the limit is D2L_MAX_IMAGE_SIDE)",
                413,
            )
        short, long = sorted((width, height))
        if long > self.max_aspect * short:
            raise ImageError(
                f"the image is {width}x{height} pixels, more elongated than {self.max_aspect:g} "
                f"to 1: crop or pad it (the limit is D2L_MAX_IMAGE_ASPECT)"
            )


@dataclass(frozen=True)
class DecodedImage:
    """``image`` is RGB, upright, possibly reduced (None once the model input was made from
    it, unless it was kept); ``width`` x ``height`` is the size of the upload as a viewer shows
    it (after EXIF orientation), the frame boxes are reported in."""

    image: Image.Image | None
    width: int
    height: int
    decoded_bytes: int = 0  # what decoding it allocated, at the least


def decode_image(
    data: bytes,
    limits: ImageLimits,
    min_side: int | None = None,
    accepts: InputLimits | None = None,
) -> DecodedImage:
    """Decode an upload: every way it can fail is an :class:`ImageError` (422; 415 for a
    format not served; 413 over the size limits).

    Args:
        data: the file's bytes.
        limits: what any upload may be, checked before decoding (decompression bombs, slivers).
        min_side: when given, the image may be reduced (JPEGs while decoding) as long as both
            sides stay at least this large: much faster for photos.
        accepts: what the model it is for can take, also checked before decoding.
    """
    if not data:
        raise ImageError(f"the file is empty: send an image ({ACCEPTED})")
    try:
        with warnings.catch_warnings():  # our own pixel limit applies, below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))  # reads the header only
    except Image.DecompressionBombError as error:
        raise ImageError(
            f"{error}: the limit here is {limits.max_pixels:,} pixels (D2L_MAX_IMAGE_PIXELS)", 413
        ) from None
    except UnidentifiedImageError:
        for name, matches in _SIGNATURES:
            if matches(data[:4096]):
                raise ImageError(f"{name} files are not accepted: send {ACCEPTED}", 415) from None
        raise ImageError(f"the file is not an image that can be read: send {ACCEPTED}") from None
    except MemoryError:
        raise
    except Exception as error:  # noqa: BLE001 - any fault of a file's header is the file's
        raise _corrupt("header could not be read", error) from None
    if image.format not in FORMATS:
        raise ImageError(f"{image.format} images are not accepted: send {ACCEPTED}", 415)
    limits.check(*image.size)
    with _file_fault("metadata could not be read"):  # EXIF is read from the file too
        width, height = upright_size(image)
    problem = accepts.problem(width, height) if accepts is not None else None
    if problem is not None:
        raise ImageError(f"the image is {width}x{height} pixels: {problem}")
    with _file_fault("could not be decoded"):
        rgb = load_rgb(image, min_side)
    # A JPEG's draft shrank ``image`` to the size it was decoded at.
    return DecodedImage(rgb, width, height, decoded_bytes=image.width * image.height * 3)


@contextmanager
def _file_fault(what: str) -> Iterator[None]:
    """Any error of a decoder (OSError, SyntaxError, struct.error, zlib.error, EOFError...)
    means a bad file: a 422 that says which step failed."""
    try:
        yield
    except MemoryError:
        raise
    except Exception as error:  # noqa: BLE001 - see above
        raise _corrupt(what, error) from None


def _corrupt(what: str, error: Exception) -> ImageError:
    reason = one_line(str(error) or type(error).__name__, 120)
    return ImageError(f"the image {what} ({reason}): it may be truncated or corrupt")


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
    """An upload decoded (``decoded``) and turned into a model input."""

    decoded: DecodedImage
    input: Tensor


class ImageModel(Protocol):
    """What the preparer needs of a model: the shorter side its inputs need (uploads may be
    reduced down to it), the images it can take, and its preprocessing."""

    @property
    def decode_side(self) -> int: ...

    @property
    def input_limits(self) -> InputLimits: ...

    def preprocess(self, image: Image.Image) -> Tensor: ...


class ImagePreparer:
    """Decodes and preprocesses uploads in its thread pool (Pillow releases the GIL while it
    decodes, so the threads run in parallel). Only the model input outlives the trip to the
    pool (unless the full-size image is asked for), and the memory a large upload took is
    given back to the system (:mod:`app.serving.memory`)."""

    def __init__(
        self, pool: Executor, limits: ImageLimits = ImageLimits(), max_batch_images: int = 32
    ) -> None:
        self.pool = pool
        self.limits = limits
        self.max_batch_images = max_batch_images

    async def prepare(
        self, upload: UploadFile, model: ImageModel, full_size: bool = False
    ) -> PreparedImage:
        """Read and decode one upload for ``model`` (reduced down to its ``decode_side``
        unless ``full_size``, which also keeps the decoded image), then preprocess it, in one
        trip to the pool."""
        data = await upload.read()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.pool, self._prepare, data, model, full_size)
        except ImageError as error:
            name = clip(upload.filename or "file")
            raise ImageError(f"{name}: {error}", error.status_code) from None

    async def prepare_batch(
        self, uploads: list[UploadFile], model: ImageModel, reserve: Callable[[int], None]
    ) -> list[PreparedImage]:
        """A batch endpoint's uploads: at most ``max_batch_images`` (413 beyond), capacity held
        for all of them (``reserve``, 503 when they do not fit) before any is decoded."""
        check_batch_size(len(uploads), self.max_batch_images)
        reserve(len(uploads))
        return list(await asyncio.gather(*(self.prepare(u, model) for u in uploads)))

    async def run(self, work: Callable[..., T], *args: object) -> T:
        """Other image work (drawing, encoding) in the same pool."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, work, *args)

    def _prepare(self, data: bytes, model: ImageModel, full_size: bool) -> PreparedImage:
        min_side = None if full_size else model.decode_side
        decoded = decode_image(data, self.limits, min_side, model.input_limits)
        with trimmed_after(decoded.decoded_bytes):
            prepared = model.preprocess(decoded.image)
            if not full_size:
                decoded = replace(decoded, image=None)
        return PreparedImage(decoded, prepared)


def check_batch_size(count: int, limit: int) -> None:
    if count > limit:
        raise ImageError(
            f"{count} images in one batch, over the limit of {limit}: split them (the limit "
            f"is D2L_MAX_BATCH_IMAGES)",
            413,
        )
