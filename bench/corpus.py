"""An adversarial corpus of uploads, generated (nothing is stored): slivers and extreme aspect
ratios, truncations of every format at every part of the file, the odd corners of PNG, JPEG,
GIF, WebP and BMP, decompression bombs, formats this service does not take and files that are
no image at all. ``bench.adversarial`` sends it to a running server with good requests in the
same batches; ``tests/test_adversarial.py`` asserts what the answers must be.

Each item says what a correct server answers: ``ok`` (a valid image within every limit: 200),
``refused`` (a 4xx) or ``either`` (a damaged file a decoder may still read: 200 or 4xx).
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

Expect = Literal["ok", "refused", "either"]


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes
    expect: Expect


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def noise(size: tuple[int, int], mode: str = "RGB", seed: int = 0) -> Image.Image:
    """Grey Gaussian noise, seeded: the corpus is the same on every run."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.normal(128, 64, size[::-1]).clip(0, 255).astype(np.uint8)).convert(
        mode
    )


def good_upload(index: int) -> bytes:
    """An ordinary photo-like JPEG: what the other clients send meanwhile."""
    return encoded(noise((96 + index % 5 * 16, 72 + index % 3 * 8)), "JPEG", quality=90)


def corpus() -> list[Upload]:
    return [*slivers(), *truncations(), *oddities(), *bombs(), *not_images()]


def slivers() -> Iterator[Upload]:
    """Thin and long images, under the pixel cap: 20 to 1 is the most elongated taken."""
    for size, expect in [
        ((1, 1), "ok"),
        ((1, 2), "ok"),
        ((2, 1), "ok"),
        ((20, 1), "ok"),
        ((1, 20), "ok"),
        ((21, 1), "refused"),
        ((1, 21), "refused"),
        ((3, 60), "ok"),
        ((1000, 1), "refused"),
        ((1, 1000), "refused"),
        ((2_000_000, 20), "refused"),
        ((40_000_000, 1), "refused"),
        ((1, 40_000_000), "refused"),
        ((16_384, 820), "ok"),
        ((16_385, 1_000), "refused"),
    ]:
        width, height = size
        yield Upload(f"sliver-{width}x{height}.png", encoded(Image.new("1", size), "PNG"), expect)


FORMATS = {"png": "PNG", "jpeg": "JPEG", "gif": "GIF", "webp": "WEBP", "bmp": "BMP"}


def truncations() -> Iterator[Upload]:
    """Each format cut in its signature, header, metadata, pixel data and trailer."""
    for suffix, fmt in FORMATS.items():
        data = encoded(noise((64, 48)), fmt)
        cuts = {1, 2, 4, 8, 12, 16, 24, 33, 48, 64, 100, len(data) // 4, len(data) // 2}
        cuts |= {len(data) - 64, len(data) - 2, len(data) - 1}
        for cut in sorted(c for c in cuts if 0 < c < len(data)):
            yield Upload(f"truncated-{cut}.{suffix}", data[:cut], "either")


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


def _png_with(size: tuple[int, int], extra: bytes) -> bytes:
    """A small PNG with ``extra`` chunks between its header and its pixels."""
    data = encoded(Image.new("RGB", size, "red"), "PNG")
    header_end = 8 + 25  # signature + IHDR chunk
    return data[:header_end] + extra + data[header_end:]


def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(bytes(64))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", pixels)
        + _png_chunk(b"IEND", b"")
    )


def oddities() -> Iterator[Upload]:
    small = noise((40, 30))
    exif = Image.Exif()
    exif[0x0112] = 8
    frames = [noise((32, 24)) for _ in range(3)]
    bmp = encoded(small, "BMP")
    top_down = bmp[:22] + struct.pack("<i", -30) + bmp[26:]  # negative height: rows top-down
    bad_crc = bytearray(encoded(small, "PNG"))
    bad_crc[29] ^= 0xFF  # the header chunk's checksum
    yield from [
        Upload("icc-5mb.png", encoded(small, "PNG", icc_profile=bytes(5_000_000)), "ok"),
        Upload("16-bit.png", encoded(Image.new("I;16", (40, 30), 40_000), "PNG"), "ok"),
        Upload("palette-transparent.png", encoded(small.convert("P"), "PNG", transparency=0), "ok"),
        Upload("rgba.png", encoded(small.convert("RGBA"), "PNG"), "ok"),
        Upload(
            "animated.png", encoded(frames[0], "PNG", save_all=True, append_images=frames[1:]), "ok"
        ),
        Upload("trailing-garbage.png", encoded(small, "PNG") + bytes(5_000), "ok"),
        Upload("bad-crc.png", bytes(bad_crc), "either"),
        Upload(
            "text-bomb.png",
            _png_with((8, 8), _png_chunk(b"zTXt", b"k\0\0" + zlib.compress(bytes(100_000_000)))),
            "either",
        ),
        Upload("progressive.jpeg", encoded(small, "JPEG", progressive=True), "ok"),
        Upload("cmyk.jpeg", encoded(small.convert("CMYK"), "JPEG"), "ok"),
        Upload("grey.jpeg", encoded(small.convert("L"), "JPEG"), "ok"),
        Upload("exif-rotated.jpeg", encoded(small, "JPEG", exif=exif.tobytes()), "ok"),
        Upload(
            "broken-exif.jpeg",
            encoded(small, "JPEG", exif=b"Exif\0\0MM\0*\xff\xff\xff\xff" + bytes(20)),
            "either",
        ),
        Upload(
            "animated.gif", encoded(frames[0], "GIF", save_all=True, append_images=frames[1:]), "ok"
        ),
        Upload("lossless.webp", encoded(small, "WEBP", lossless=True), "ok"),
        Upload(
            "animated.webp",
            encoded(frames[0], "WEBP", save_all=True, append_images=frames[1:]),
            "ok",
        ),
        Upload("1-bit.bmp", encoded(small.convert("1"), "BMP"), "ok"),
        Upload("top-down.bmp", top_down, "either"),
        Upload("mpo-like.jpeg", encoded(small, "JPEG") * 2, "ok"),
    ]


def bombs() -> Iterator[Upload]:
    """Small files that claim (or inflate to) huge images: refused from the header."""
    yield Upload(
        "bomb-12000x12000.png", encoded(Image.new("1", (12_000, 12_000)), "PNG"), "refused"
    )
    yield Upload("bomb-header-100000.png", _png_header_only(100_000, 100_000), "refused")
    yield Upload("bomb-header-65500.jpeg", _jpeg_claiming(65_500, 65_500), "refused")
    gif = bytearray(encoded(noise((8, 8)).convert("P"), "GIF"))
    gif[6:10] = struct.pack("<HH", 65_535, 65_535)  # the logical screen
    yield Upload("bomb-screen-65535.gif", bytes(gif), "refused")
    bmp = bytearray(encoded(noise((8, 8)), "BMP"))
    bmp[18:26] = struct.pack("<ii", 50_000, 50_000)
    yield Upload("bomb-header-50000.bmp", bytes(bmp), "refused")


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose frame header says ``width`` x ``height``."""
    data = bytearray(encoded(noise((16, 16)), "JPEG"))
    start = data.index(b"\xff\xc0")  # baseline frame header: length, precision, height, width
    data[start + 5 : start + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def not_images() -> Iterator[Upload]:
    yield from [
        Upload("empty.jpg", b"", "refused"),
        Upload("random.jpg", bytes(range(256)) * 40, "refused"),
        Upload("readme.png", b"# d2l-serve\nnot an image\n" * 20, "refused"),
        Upload(
            "drawing.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect/></svg>',
            "refused",
        ),
        Upload("photo.heic", b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + bytes(200), "refused"),
        Upload("photo.avif", b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf" + bytes(200), "refused"),
        Upload("scan.pdf", b"%PDF-1.7\n" + bytes(200), "refused"),
        Upload("scan.tiff", encoded(noise((16, 16)), "TIFF"), "refused"),
        Upload("icon.ico", encoded(noise((16, 16)), "ICO"), "refused"),
    ]
