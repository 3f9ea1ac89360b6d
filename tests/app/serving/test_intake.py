"""Upload decoding: formats, EXIF orientation, modes, and every kind of bad file."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from app.serving.intake import ImageError, decode_image

LIMIT = 10_000_000


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "GIF"])
def test_common_formats_decode_to_rgb(fmt):
    decoded = decode_image(encoded(Image.new("RGB", (40, 30), (200, 30, 30)), fmt), LIMIT)
    assert decoded.image.mode == "RGB" and (decoded.width, decoded.height) == (40, 30)
    assert decoded.image.size == (40, 30)


def test_exif_orientation_is_applied_and_reported():
    image = Image.new("RGB", (60, 20), "black")
    image.paste((255, 0, 0), (0, 0, 10, 20))  # red band on the left, as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # viewers rotate this 90 degrees clockwise
    decoded = decode_image(encoded(image, "JPEG", exif=exif.tobytes()), LIMIT)
    assert (decoded.width, decoded.height) == (20, 60)
    assert decoded.image.size == (20, 60)
    red, green, _ = decoded.image.getpixel((10, 3))  # the band is now at the top
    assert red > 200 and green < 60


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "RGBA", "LA", "1", "I;16"])
def test_any_mode_becomes_rgb(mode):
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    decoded = decode_image(encoded(Image.new(mode, (8, 8)), fmt), LIMIT)
    assert decoded.image.mode == "RGB"


def test_transparent_pixels_become_white():
    decoded = decode_image(encoded(Image.new("RGBA", (4, 4), (255, 0, 0, 0)), "PNG"), LIMIT)
    assert decoded.image.getpixel((0, 0)) == (255, 255, 255)


def test_only_the_first_frame_of_an_animation():
    frames = [Image.new("RGB", (10, 10), color) for color in ("red", "blue")]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert decode_image(data, LIMIT).image.getpixel((5, 5))[0] > 200


def test_big_jpegs_decode_at_reduced_size_but_report_their_own():
    data = encoded(Image.new("RGB", (2000, 1600)), "JPEG")
    decoded = decode_image(data, LIMIT, min_side=256)
    assert (decoded.width, decoded.height) == (2000, 1600)
    assert 256 <= min(decoded.image.size) < 800


@pytest.mark.parametrize(
    ("data", "status", "text"),
    [
        (b"", 422, "the file is empty"),
        (b"%PDF-1.4 not an image", 422, "not an image that can be read"),
        (encoded(Image.new("RGB", (64, 64), "green"), "JPEG")[:300], 422, "truncated or corrupt"),
        (encoded(Image.new("RGB", (8, 8)), "TIFF"), 415, "TIFF images are not accepted"),
    ],
)
def test_bad_files_are_refused_with_a_reason(data, status, text):
    with pytest.raises(ImageError, match=text) as raised:
        decode_image(data, LIMIT)
    assert raised.value.status_code == status


def test_decompression_bombs_are_refused_before_decoding():
    bomb = encoded(Image.new("1", (12_000, 12_000)), "PNG")  # 144 Mpx in a few kB
    assert len(bomb) < 100_000
    with pytest.raises(
        ImageError, match="12000x12000 = 144,000,000 pixels, over the limit of 10,000,000"
    ) as raised:
        decode_image(bomb, LIMIT)
    assert raised.value.status_code == 413


def test_even_huge_bombs_that_pillow_itself_refuses_are_413():
    bomb = encoded(
        Image.new("1", (15_000, 15_000)), "PNG"
    )  # 225 Mpx: over twice Pillow's own limit
    with pytest.raises(ImageError, match="10,000,000 pixels") as raised:
        decode_image(bomb, LIMIT)
    assert raised.value.status_code == 413


# What a viewer does for each EXIF orientation, as PIL transposes (the EXIF 2.3 table).
VIEWER = {
    2: [Image.Transpose.FLIP_LEFT_RIGHT],
    3: [Image.Transpose.ROTATE_180],
    4: [Image.Transpose.FLIP_TOP_BOTTOM],
    5: [Image.Transpose.TRANSPOSE],
    6: [Image.Transpose.ROTATE_270],
    7: [Image.Transpose.TRANSVERSE],
    8: [Image.Transpose.ROTATE_90],
}


@pytest.mark.parametrize("orientation", sorted(VIEWER))
def test_every_exif_orientation_mirrored_ones_included_is_shown_as_a_viewer_shows_it(
    orientation,
):
    stored = Image.new("RGB", (64, 32), "black")
    stored.paste((255, 0, 0), (0, 0, 16, 16))  # a red block in the top-left corner
    exif = Image.Exif()
    exif[0x0112] = orientation
    decoded = decode_image(encoded(stored, "JPEG", quality=95, exif=exif.tobytes()), LIMIT)
    expected = stored
    for method in VIEWER[orientation]:
        expected = expected.transpose(method)
    assert (decoded.width, decoded.height) == expected.size
    assert decoded.image.size == expected.size
    for x, y in [(4, 4), (expected.width - 5, 4), (4, expected.height - 5)]:
        got, want = decoded.image.getpixel((x, y)), expected.getpixel((x, y))
        assert abs(got[0] - want[0]) < 60, (orientation, (x, y), got, want)


def test_exif_orientation_with_draft_decoding_reports_the_upright_full_size():
    stored = Image.new("RGB", (2000, 1600), "black")
    stored.paste((255, 0, 0), (0, 0, 400, 400))
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode_image(encoded(stored, "JPEG", exif=exif.tobytes()), LIMIT, min_side=256)
    assert (decoded.width, decoded.height) == (1600, 2000), "the upload's upright size"
    small_w, small_h = decoded.image.size
    assert small_w < small_h and min(small_w, small_h) >= 256, "reduced, and upright"
    red, green, _ = decoded.image.getpixel((small_w - 5, 5))  # top-left went top-right
    assert red > 200 and green < 60
