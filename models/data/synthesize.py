"""Training images that look like the photos users send: the seal printed, embroidered, embossed,
on badges or carved, pasted onto real backgrounds at many scales, angles, tilts and colours.

``python -m models.data.synthesize --target ../shared/data/sysu-logo/target --backgrounds
../shared/data/sysu-logo/background --count 3000 --out runs/synth`` writes ``images/*.jpg`` and a
``label.csv`` in d2l's detection layout (one row per seal), which ``python -m models.train detect
--synthetic runs/synth`` trains on. Every image is a function of ``(seed, index)`` alone.

A seal's box is the bounding box of its own alpha mask after every geometric transform
(scale, rotation, perspective), so it is exact by construction; photometric steps (blur, noise,
lighting, JPEG) come after and move no pixel. Its mask (``masks/*.png``, for Mask R-CNN) is its
filled silhouette, the disc a person would outline with the holes between the ink strokes
filled, carried through the same transforms; an occluder drawn over a seal is cut out of it.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps

from models.data.detection_csv import validation_split
from models.data.effects import gaussian_noise, photo_effects, tilt_together
from models.data.hard_cases import _overlap, add_distractors, occlude, on_screen
from models.data.images import load_rgb
from models.data.silhouettes import ALPHA_EDGE, instance_map, silhouette

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
# Ink colours seen on real seals: green, white, gold, red, grey, black, navy.
INKS = [(20, 95, 55), (235, 235, 230), (205, 160, 60), (150, 35, 35), (120, 120, 120),
        (25, 25, 25), (30, 45, 95)]  # fmt: skip
# Fills behind the ink for badges, stone and printed labels.
FILLS = [(245, 245, 240), (225, 220, 205), (200, 200, 195), (250, 235, 235)]


@dataclass(frozen=True)
class SynthesisConfig:
    """What a synthetic image may hold. The defaults draw the images of the first sets; the
    options after ``max_seals`` are off by default so a seed still draws what it drew."""

    min_side: int = 15  # smallest seal, in pixels of the output image
    max_fraction: float = 0.9  # largest seal, as a share of the shorter side
    max_rotation: float = 30.0  # degrees either way
    max_tilt: float = 0.18  # perspective: corner shift as a share of the seal's side
    sizes: tuple[int, ...] = (256, 320, 384, 512, 640)
    max_seals: int = 3
    distractors: int = 0  # up to this many clocks, wheels, coins... per image, with no box
    hard: bool = False  # foreshortened, occluded and on-screen seals too


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
) -> tuple[Image.Image, Image.Image]:
    """One seal as an RGBA image about ``side`` pixels across: coloured ink, sometimes on a
    filled disc (badge, label, stone), rotated and tilted (with ``hard``, sometimes seen from
    the side: the disc down to a 1:2.5 ellipse); and its silhouette ("L", same size), moved
    alike."""
    ink_mask = mask.resize((side, side), Image.Resampling.LANCZOS)
    outline = silhouette(ink_mask)
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
        alpha = outline = disc
    if rng.random() < 0.3:  # faded print, worn embroidery: the ink is patchy
        noise = gaussian_noise((side, side), rng.uniform(20, 60), rng).filter(
            ImageFilter.GaussianBlur(1)
        )
        alpha = ImageChops.multiply(
            alpha, ImageOps.autocontrast(noise).point(lambda v: 128 + v // 2)
        )
    layer.putalpha(alpha)
    if config.hard and rng.random() < 0.3:  # foreshortened: a disc seen at a slant
        squash = rng.uniform(0.4, 0.9)
        squashed = (side, max(4, int(side * squash)))
        layer = layer.resize(squashed, Image.Resampling.LANCZOS)
        outline = outline.resize(squashed, Image.Resampling.LANCZOS)
    layer, outline = place_layers([layer, outline], rng, config)
    return layer, outline.point(lambda v: 255 if v >= 128 else 0)


def place_layer(layer: Image.Image, rng: random.Random, config: SynthesisConfig) -> Image.Image:
    """An RGBA layer rotated and tilted as a seal is (distractors get the same)."""
    return place_layers([layer], rng, config)[0]


def place_layers(
    layers: list[Image.Image], rng: random.Random, config: SynthesisConfig
) -> list[Image.Image]:
    """:func:`place_layer` drawn once for layers of one size (a seal and its silhouette)."""
    angle = rng.uniform(-config.max_rotation, config.max_rotation)
    turned = [layer.rotate(angle, Image.Resampling.BICUBIC, expand=True) for layer in layers]
    return tilt_together(turned, rng, config.max_tilt)


def compose(
    background: Image.Image,
    masks: list[Image.Image],
    rng: random.Random,
    config: SynthesisConfig,
    photometric: bool = True,
    silhouettes: list[Image.Image] | None = None,
) -> tuple[Image.Image, list[list[int]]]:
    """Paste 1 to ``max_seals`` seals onto ``background`` without overlap; the image and the
    seals' xyxy boxes (pixels, each the bounding box of the seal's visible alpha). Each seal's
    silhouette on the whole image ("L", 255 inside) is appended to ``silhouettes`` when a list
    is given, in the order of the boxes; asking for them draws nothing else."""
    canvas = background.convert("RGB")
    width, height = canvas.size
    boxes: list[list[int]] = []
    outlines: list[Image.Image] = []
    wanted = 1 + sum(rng.random() < 0.25 for _ in range(config.max_seals - 1))
    for _ in range(wanted * 4):  # a few tries per seal to find free space
        if len(boxes) == wanted:
            break
        largest = max(config.min_side + 1, int(config.max_fraction * min(width, height)))
        side = int(math.exp(rng.uniform(math.log(config.min_side), math.log(largest))))
        seal, outline = render_seal(rng.choice(masks), rng, side, config)
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
        placed = Image.new("L", canvas.size, 0)
        placed.paste(outline, (x, y))
        if config.hard and rng.random() < 0.2:
            occlude(canvas, box, rng, boxes, placed)
        boxes.append(box)
        outlines.append(placed)
    if silhouettes is not None:
        silhouettes += outlines
    if config.distractors:
        place = lambda layer: place_layer(layer, rng, config)  # noqa: E731
        add_distractors(canvas, boxes, rng, config.distractors, place, INKS, config.min_side)
    if config.hard and photometric and rng.random() < 0.1:
        return on_screen(canvas, rng), boxes
    return (photo_effects(canvas, rng) if photometric else canvas), boxes


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


def held_out_backgrounds(files: list[Path], fraction: float, held_out: bool) -> list[Path]:
    """The backgrounds kept apart (``held_out``) or the others: a fixed share by the hash of the
    file name, so seal-free photos that measure false alarms are never pasted on nor trained
    on."""
    return [path for path in files if validation_split(path.name, fraction) == held_out]


def compose_negative(
    background: Image.Image, rng: random.Random, config: SynthesisConfig
) -> Image.Image:
    """A seal-free image: one or more distractors on ``background``, lit as the seals are."""
    canvas = background.convert("RGB")
    place = lambda layer: place_layer(layer, rng, config)  # noqa: E731
    add_distractors(canvas, [], rng, max(1, config.distractors), place, INKS, config.min_side)
    return photo_effects(canvas, rng)


def synthesize(
    target_dir: Path,
    backgrounds: list[Path],
    out: Path,
    count: int,
    seed: int = 0,
    config: SynthesisConfig = SynthesisConfig(),
    negatives: int = 0,
    background_split: tuple[float, bool] | None = None,
    only: Sequence[int] | None = None,
) -> Path:
    """Write ``count`` images and their ``label.csv`` (label 0, pixel corners) under ``out``,
    each image's seal silhouettes as ``masks/<name>.png`` (:func:`instance_map`, value k + 1 for
    the image's k-th row of the CSV), and ``negatives`` seal-free distractor images under
    ``out/negatives`` (for ``--train-negatives``, or to measure false alarms).
    ``background_split`` (fraction, held out) draws on that part of the backgrounds only
    (:func:`held_out_backgrounds`). ``only``: write just these of the ``count`` indices (each
    image depends on its index alone, so they are the images the whole set holds)."""
    masks = seal_masks(target_dir)
    files = background_files(backgrounds)
    if background_split is not None:
        files = held_out_backgrounds(files, *background_split)
    _write_negatives(files, out / "negatives", negatives, seed, config)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(exist_ok=True)
    rows = []
    for index in range(count) if only is None else sorted(set(only)):
        rng = random.Random(f"{seed}:{index}")
        outlines: list[Image.Image] = []
        image, boxes = compose(
            background_canvas(rng.choice(files), rng, config), masks, rng, config,
            silhouettes=outlines,
        )  # fmt: skip
        name = f"{index:06d}.jpg"
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=rng.randint(45, 95))
        (out / "images" / name).write_bytes(buffer.getvalue())
        instance_map(image.size, outlines).save(out / "masks" / f"{index:06d}.png")
        rows += [[name, 0, *box] for box in boxes]
    label_file = out / "label.csv"
    with label_file.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["img_name", "label", "xmin", "ymin", "xmax", "ymax"])
        writer.writerows(rows)
    return label_file


def _write_negatives(
    files: list[Path], folder: Path, count: int, seed: int, config: SynthesisConfig
) -> None:
    if count:
        folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        rng = random.Random(f"{seed}:negative:{index}")
        image = compose_negative(background_canvas(rng.choice(files), rng, config), rng, config)
        image.save(folder / f"{index:06d}.jpg", "JPEG", quality=rng.randint(45, 95))


def _jitter(colour: tuple[int, int, int], rng: random.Random) -> tuple[int, int, int]:
    return tuple(max(0, min(255, c + rng.randint(-25, 25))) for c in colour)  # type: ignore[return-value]


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
    parser.add_argument(
        "--distractors", type=int, default=0,
        help="up to this many clocks, wheels, coins, roundels... per image, with no box",
    )  # fmt: skip
    parser.add_argument(
        "--hard", action="store_true",
        help="foreshortened, partly hidden and on-screen seals too, down to 12 px",
    )  # fmt: skip
    parser.add_argument(
        "--negatives", type=int, default=0,
        help="also this many seal-free distractor images, in OUT/negatives",
    )  # fmt: skip
    parser.add_argument(
        "--held-out", choices=("exclude", "only"), default=None,
        help="draw on the backgrounds outside (exclude) or inside (only) the held-out share "
        "(--held-out-fraction) kept for measuring false alarms",
    )  # fmt: skip
    parser.add_argument("--held-out-fraction", type=float, default=0.2)
    return parser


def main(args: argparse.Namespace) -> Path:
    config = SynthesisConfig(distractors=args.distractors, hard=args.hard)
    if args.hard:
        config = replace(config, min_side=12, sizes=(*config.sizes, 800))
    split = None if args.held_out is None else (args.held_out_fraction, args.held_out == "only")
    label_file = synthesize(
        args.target, args.backgrounds, args.out, args.count, args.seed, config, args.negatives,
        split,
    )  # fmt: skip
    print(f"wrote {args.count} images and {label_file}, {args.negatives} seal-free images")
    return label_file


if __name__ == "__main__":
    main(get_args_parser().parse_args())
