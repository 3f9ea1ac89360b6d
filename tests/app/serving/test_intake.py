"""Upload decoding: formats, EXIF orientation, modes, and every kind of bad file."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from app.serving.intake import ImageError, ImageLimits, decode_image
from models.data.images import InputLimits
from tests.images import noise_image

LIMIT = ImageLimits(max_pixels=10_000_000)


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
        (b"GIF89 not an image at all", 422, "not an image that can be read"),
        (b"%PDF-1.4 not an image", 415, "PDF files are not accepted"),
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


SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>'


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (SVG, "SVG"),
        (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + bytes(64), "HEIC"),
        (b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf" + bytes(64), "AVIF"),
        (b"\xff\x0a\xfa\x7f" + bytes(64), "JPEG XL"),
    ],
)
def test_formats_pillow_cannot_open_are_415_not_unreadable(data, name):
    with pytest.raises(ImageError, match=f"{name} files are not accepted") as raised:
        decode_image(data, LIMIT)
    assert raised.value.status_code == 415


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "BMP"])
def test_a_truncation_at_any_length_is_a_422(fmt):
    data = encoded(noise_image((48, 40), 60).convert("RGB"), fmt)
    lengths = sorted({*range(1, 80), *range(80, len(data), max(1, len(data) // 40))})
    for length in lengths:
        try:
            decode_image(data[:length], LIMIT)
        except ImageError as error:
            assert error.status_code == 422, (fmt, length, str(error))


def test_a_large_colour_profile_is_no_reason_to_refuse_a_png():
    image = Image.new("RGB", (20, 20), "red")
    decoded = decode_image(encoded(image, "PNG", icc_profile=bytes(5_000_000)), LIMIT)
    assert decoded.image.getpixel((3, 3)) == (255, 0, 0)


def test_slivers_and_long_sides_are_refused_from_the_header():
    limits = ImageLimits(max_pixels=40_000_000, max_side=16_384, max_aspect=20)
    long_side = encoded(Image.new("1", (20_000, 300)), "PNG")
    with pytest.raises(ImageError, match="over the limit of 16,384 on a side") as raised:
        decode_image(long_side, limits)
    assert raised.value.status_code == 413
    for size in [(1000, 1), (1, 1000), (2100, 100)]:
        with pytest.raises(ImageError, match="more elongated than 20 to 1") as raised:
            decode_image(encoded(Image.new("L", size), "PNG"), limits)
        assert raised.value.status_code == 422
    assert decode_image(encoded(Image.new("L", (2000, 100)), "PNG"), limits).width == 2000


def test_a_model_s_own_limits_are_checked_upright_and_named():
    accepts = InputLimits(min_side=8, max_aspect=4)
    with pytest.raises(ImageError, match="shorter side is 5 px, under the 8 px this model needs"):
        decode_image(encoded(Image.new("RGB", (40, 5)), "PNG"), LIMIT, accepts=accepts)
    with pytest.raises(ImageError, match="more elongated than the 4 to 1 this model takes"):
        decode_image(encoded(Image.new("RGB", (10, 50)), "PNG"), LIMIT, accepts=accepts)
    assert decode_image(encoded(Image.new("RGB", (32, 8)), "PNG"), LIMIT, accepts=accepts)


def test_large_uploads_are_reduced_for_the_model_whatever_their_format():
    data = encoded(Image.new("RGB", (2000, 1600), "blue"), "PNG")
    decoded = decode_image(data, LIMIT, min_side=256)
    assert (decoded.width, decoded.height) == (2000, 1600)
    assert 256 <= min(decoded.image.size) < 512
    assert decoded.decoded_bytes == 2000 * 1600 * 3
