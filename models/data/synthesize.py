"""Training images that look like the photos users send: the seal printed, embroidered, embossed,
on badges or carved, pasted onto real backgrounds at many scales, angles, tilts and colours.

``python -m models.data.synthesize --target ../shared/data/sysu-logo/target --backgrounds
../shared/data/sysu-logo/background --count 3000 --out runs/synth`` writes ``images/*.jpg`` and a
``label.csv`` in d2l's detection layout (one row per seal), which ``python -m models.train detect
--synthetic runs/synth`` trains on. Every image is a function of ``(seed, index)`` alone.

A seal's box is the bounding box of its own alpha mask after every geometric transform
(scale, rotation, perspective), so it is exact by construction; photometric steps (blur, noise,
lighting, JPEG) come after and move no pixel.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageEnhance, ImageFilter, ImageOps

from models.data.images import load_rgb

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
# Ink colours seen on real seals: green, white, gold, red, grey, black, navy.
INKS = [(20, 95, 55), (235, 235, 230), (205, 160, 60), (150, 35, 35), (120, 120, 120),
        (25, 25, 25), (30, 45, 95)]  # fmt: skip
# Fills behind the ink for badges, stone and printed labels.
FILLS = [(245, 245, 240), (225, 220, 205), (200, 200, 195), (250, 235, 235)]
ALPHA_EDGE = 32  # a pixel belongs to the seal from this opacity up


@dataclass(frozen=True)
class SynthesisConfig:
    min_side: int = 15  # smallest seal, in pixels of the output image
    max_fraction: float = 0.9  # largest seal, as a share of the shorter side
    max_rotation: float = 30.0  # degrees either way
    max_tilt: float = 0.18  # perspective: corner shift as a share of the seal's side
    sizes: tuple[int, ...] = (256, 320, 384, 512, 640)
    max_seals: int = 3


def seal_masks(target_dir: Path) -> list[Image.Image]:
    """The seal's ink as alpha masks ("L", white = ink), one per target file: the alpha channel
    of a white-on-transparent target, the dark pixels of a coloured one."""
    masks = []
    for path in sorted(target_dir.glob("*.png")):
        with Image.open(path) as opened:
            rgba = opened.convert("RGBA")
        alpha = rgba.getchannel("A")
        luminance = rgba.convert("L")
        if ImageOps.grayscale(rgba.convert("RGB")).getextrema()[0] > 200:  # white ink
            ink = alpha
        else:  # coloured ink on a white disc: ink where dark and opaque
            ink = ImageChops.multiply(
                alpha, ImageOps.invert(luminance).point(lambda v: min(255, v * 2))
            )
        box = ink.point(lambda v: 255 if v >= ALPHA_EDGE else 0).getbbox()
        masks.append(ink.crop(box))
    if not masks:
        raise FileNotFoundError(f"{target_dir} holds no *.png seal")
    return masks


def background_files(folders: list[Path]) -> list[Path]:
    files = sorted(
        path
        for folder in folders
        for path in folder.rglob("*")
        if path.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise FileNotFoundError(f"no background images in {', '.join(map(str, folders))}")
    return files


def render_seal(
    mask: Image.Image, rng: random.Random, side: int, config: SynthesisConfig
) -> Image.Image:
    """One seal as an RGBA image about ``side`` pixels across: coloured ink, sometimes on a
    filled disc (badge, label, stone), rotated and tilted."""
    ink_mask = mask.resize((side, side), Image.Resampling.LANCZOS)
    ink_colour = _jitter(rng.choice(INKS), rng)
    layer = Image.new("RGBA", (side, side), ink_colour + (0,))
    alpha = ink_mask
    if rng.random() < 0.35:  # a disc behind the ink: badges, labels, carved stone
        disc = Image.new("L", (side, side), 0)
        ImageDraw.Draw(disc).ellipse((0, 0, side - 1, side - 1), fill=255)
        fill = _jitter(rng.choice(FILLS), rng)
        base = Image.new("RGB", (side, side), fill)
        base.paste(ink_colour, mask=ink_mask)
        layer = base.convert("RGBA")
        alpha = disc
    if rng.random() < 0.3:  # faded print, worn embroidery: the ink is patchy
        noise = _noise((side, side), rng.uniform(20, 60), rng).filter(ImageFilter.GaussianBlur(1))
        alpha = ImageChops.multiply(
            alpha, ImageOps.autocontrast(noise).point(lambda v: 128 + v // 2)
        )
    layer.putalpha(alpha)
    layer = layer.rotate(
        rng.uniform(-config.max_rotation, config.max_rotation),
        Image.Resampling.BICUBIC,
        expand=True,
    )
    return _tilt(layer, rng, config.max_tilt)


def compose(
    background: Image.Image,
    masks: list[Image.Image],
    rng: random.Random,
    config: SynthesisConfig,
    photometric: bool = True,
) -> tuple[Image.Image, list[list[int]]]:
    """Paste 1 to ``max_seals`` seals onto ``background`` without overlap; the image and the
    seals' xyxy boxes (pixels, each the bounding box of the seal's visible alpha)."""
    canvas = background.convert("RGB")
    width, height = canvas.size
    boxes: list[list[int]] = []
    wanted = 1 + sum(rng.random() < 0.25 for _ in range(config.max_seals - 1))
    for _ in range(wanted * 4):  # a few tries per seal to find free space
        if len(boxes) == wanted:
            break
        largest = max(config.min_side + 1, int(config.max_fraction * min(width, height)))
        side = int(math.exp(rng.uniform(math.log(config.min_side), math.log(largest))))
        seal = render_seal(rng.choice(masks), rng, side, config)
        if seal.width >= width or seal.height >= height:
            continue
        x, y = rng.randrange(width - seal.width), rng.randrange(height - seal.height)
        visible = seal.getchannel("A").point(lambda v: 255 if v >= ALPHA_EDGE else 0).getbbox()
        if visible is None:
            continue
        box = [x + visible[0], y + visible[1], x + visible[2], y + visible[3]]
        if any(_overlap(box, other) for other in boxes):
            continue
        if (
            rng.random() < 0.3
        ):  # printed on the surface: the ink takes the light of what is under it
            under = ImageOps.grayscale(canvas.crop((x, y, x + seal.width, y + seal.height)))
            shade = ImageOps.autocontrast(under).point(lambda v: 150 + int(v * 0.42))
            rgb = ImageChops.multiply(seal.convert("RGB"), Image.merge("RGB", [shade] * 3))
            seal = Image.merge("RGBA", (*rgb.split(), seal.getchannel("A")))
        canvas.paste(seal, (x, y), seal)
        boxes.append(box)
    return (_photometric(canvas, rng) if photometric else canvas), boxes


def background_canvas(path: Path, rng: random.Random, config: SynthesisConfig) -> Image.Image:
    """A background of a random size and aspect: a random crop of a photo, resized."""
    with Image.open(path) as opened:
        photo = load_rgb(opened)
    width = rng.choice(config.sizes)
    height = max(config.sizes[0], min(config.sizes[-1], int(width * rng.uniform(0.6, 1.6))))
    scale = rng.uniform(0.4, 1.0)
    crop_w = max(16, int(photo.width * scale))
    crop_h = max(16, min(photo.height, int(crop_w * height / width)))
    left = rng.randrange(photo.width - crop_w + 1)
    top = rng.randrange(photo.height - crop_h + 1)
    crop = photo.crop((left, top, left + crop_w, top + crop_h))
    if rng.random() < 0.5:
        crop = ImageOps.mirror(crop)
    return crop.resize((width, height), Image.Resampling.BILINEAR)


def synthesize(
    target_dir: Path,
    backgrounds: list[Path],
    out: Path,
    count: int,
    seed: int = 0,
    config: SynthesisConfig = SynthesisConfig(),
) -> Path:
    """Write ``count`` images and their ``label.csv`` (label 0, pixel corners) under ``out``."""
    masks = seal_masks(target_dir)
    files = background_files(backgrounds)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for index in range(count):
        rng = random.Random(f"{seed}:{index}")
        image, boxes = compose(
            background_canvas(rng.choice(files), rng, config), masks, rng, config
        )
        name = f"{index:06d}.jpg"
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=rng.randint(45, 95))
        (out / "images" / name).write_bytes(buffer.getvalue())
        rows += [[name, 0, *box] for box in boxes]
    label_file = out / "label.csv"
    with label_file.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["img_name", "label", "xmin", "ymin", "xmax", "ymax"])
        writer.writerows(rows)
    return label_file


def _tilt(layer: Image.Image, rng: random.Random, max_tilt: float) -> Image.Image:
    """A perspective warp: each corner moves by up to ``max_tilt`` of the side, inwards."""
    w, h = layer.size
    shift = [rng.uniform(0, max_tilt) * s for s in (w, h, w, h, w, h, w, h)]
    corners = [
        (shift[0], shift[1]),
        (w - shift[2], shift[3]),
        (w - shift[4], h - shift[5]),
        (shift[6], h - shift[7]),
    ]
    source = [(0, 0), (w, 0), (w, h), (0, h)]
    coefficients = _perspective_coefficients(corners, source)
    return layer.transform(
        (w, h), Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BICUBIC
    )


def _perspective_coefficients(
    destination: list[tuple[float, float]], source: list[tuple[float, float]]
) -> list[float]:
    """PIL's 8 coefficients mapping output (``destination``) points to input (``source``)."""
    matrix, vector = [], []
    for (x, y), (u, v) in zip(destination, source, strict=True):
        matrix.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        matrix.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        vector += [u, v]
    return np.linalg.solve(np.array(matrix), np.array(vector)).tolist()


def _photometric(image: Image.Image, rng: random.Random) -> Image.Image:
    """Lighting, blur and sensor noise on the whole image (no pixel moves)."""
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.6, 1.3))
    image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.7, 1.3))
    image = ImageEnhance.Color(image).enhance(rng.uniform(0.6, 1.3))
    if rng.random() < 0.4:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.5)))
    if rng.random() < 0.3:
        noise = _noise(image.size, rng.uniform(5, 25), rng).convert("RGB")
        image = ImageChops.add(image, noise, scale=1.0, offset=-128)
    return image


def _noise(size: tuple[int, int], sigma: float, rng: random.Random) -> Image.Image:
    """Gaussian noise around 128 ("L"), drawn from ``rng`` (Pillow's own noise is not seeded)."""
    draws = np.random.default_rng(rng.getrandbits(64)).normal(128, sigma, (size[1], size[0]))
    return Image.fromarray(draws.clip(0, 255).astype(np.uint8), "L")


def _jitter(colour: tuple[int, int, int], rng: random.Random) -> tuple[int, int, int]:
    return tuple(max(0, min(255, c + rng.randint(-25, 25))) for c in colour)  # type: ignore[return-value]


def _overlap(a: list[int], b: list[int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m models.data.synthesize", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--target", type=Path, required=True, help="folder of seal PNGs (RGBA)")
    parser.add_argument(
        "--backgrounds", type=Path, nargs="+", required=True,
        help="folders of photos without the seal (searched recursively)",
    )  # fmt: skip
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs") / "synth")
    return parser


def main(args: argparse.Namespace) -> Path:
    label_file = synthesize(args.target, args.backgrounds, args.out, args.count, args.seed)
    print(f"wrote {args.count} images and {label_file}")
    return label_file


if __name__ == "__main__":
    main(get_args_parser().parse_args())
