"""Hard negatives: the places in seal-free photos where a detector fires, cut out with some of
their surroundings and written as seal-free training images (``--train-negatives``).

    python -m models.data.mine_negatives --weights weights/tinyssd-logo.pt \\
        --folders runs/backgrounds-train ../shared/data/hymenoptera/train \\
        --score 0.3 --per-photo 2 --out runs/mined/tinyssd

Only folders the detector may train on belong here: never a held-out set that measures false
alarms. Each crop is a square around one box, its side the box's longer side times a factor
drawn from ``--context`` (seeded), so the object the detector mistook spans a quarter to two
thirds of the crop's side; ``mined.csv`` says which photo, box and score each crop came from.
"""

from __future__ import annotations

import argparse
import csv
import pickle
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from models.data.images import load_rgb
from models.data.synthesize import IMAGE_SUFFIXES
from models.train.photo_eval import detect_photo
from models.vision.detection.base import DetectionThresholds, ObjectDetector
from models.vision.detection.loading import load_detector

LONGEST_SIDE = 640


@dataclass(frozen=True)
class MiningOptions:
    score: float = 0.1
    per_photo: int = 3
    context: tuple[float, float] = (1.5, 4.0)
    min_side: int = 48
    seed: int = 0


def square_around(
    box: list[float], factor: float, size: tuple[int, int]
) -> tuple[int, int, int, int]:
    """The square (xyxy, integer pixels) centred on ``box`` whose side is ``factor`` times the
    box's longer side, moved and shrunk as needed to lie inside an image of ``size``."""
    if factor <= 0:
        raise ValueError(f"factor must be positive, got {factor}")
    width, height = size
    x1, y1, x2, y2 = box
    side = min(max(x2 - x1, y2 - y1) * factor, width, height)
    left = min(max((x1 + x2 - side) / 2, 0), width - side)
    top = min(max((y1 + y2 - side) / 2, 0), height - side)
    return round(left), round(top), round(left + side), round(top + side)


def mine_photo(
    detector: ObjectDetector, path: Path, options: MiningOptions, rng: random.Random
) -> list[tuple[Image.Image, list[float], float]]:
    """Crops of ``path`` around its highest-scoring boxes (at most ``per_photo``)."""
    thresholds = DetectionThresholds(score_threshold=options.score)
    found = sorted(detect_photo(detector, path, thresholds), key=lambda d: -d.score)
    if not found:
        return []
    with Image.open(path) as opened:
        image = load_rgb(opened)  # upright (EXIF), the pixels the boxes are in
    crops = []
    for detection in found[: options.per_photo]:
        square = square_around(detection.box, rng.uniform(*options.context), image.size)
        if square[2] - square[0] < options.min_side:
            continue
        crop = image.crop(square)
        if max(crop.size) > LONGEST_SIDE:
            crop = crop.resize((LONGEST_SIDE, LONGEST_SIDE), Image.Resampling.LANCZOS)
        crops.append((crop, detection.box, detection.score))
    return crops


def mine(
    detector: ObjectDetector, folders: list[Path], out: Path, options: MiningOptions
) -> dict[str, int]:
    """Every image under ``folders`` through ``detector``; crops and ``mined.csv`` in ``out``."""
    files = [
        path
        for folder in folders
        for path in sorted(folder.rglob("*"))
        if path.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not files:
        raise ValueError(f"no images under {', '.join(map(str, folders))}")
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(options.seed)
    fired = written = 0
    with (out / "mined.csv").open("w", newline="", encoding="utf-8") as file:
        rows = csv.writer(file)
        rows.writerow(["img_name", "source", "xmin", "ymin", "xmax", "ymax", "score"])
        for index, path in enumerate(files):
            crops = mine_photo(detector, path, options, rng)
            fired += bool(crops)
            for number, (crop, box, score) in enumerate(crops):
                name = f"{index:05d}-{number}.jpg"
                crop.save(out / name, quality=92)
                rows.writerow([name, str(path), *(round(v, 1) for v in box), round(score, 4)])
                written += 1
    return {"photos": len(files), "photos_fired_on": fired, "crops": written}


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m models.data.mine_negatives", description=__doc__
    )
    parser.add_argument("--weights", type=Path, required=True, help="a detector checkpoint")
    parser.add_argument("--folders", type=Path, nargs="+", required=True, help="seal-free photos")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--score", type=float, default=0.1, help="lowest score that counts")
    parser.add_argument("--per-photo", type=int, default=3)
    parser.add_argument(
        "--context", type=float, nargs=2, default=(1.5, 4.0), metavar=("LOW", "HIGH")
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    options = MiningOptions(args.score, args.per_photo, tuple(args.context), seed=args.seed)
    try:
        detector = load_detector(args.weights, torch.device("cpu"))
        summary = mine(detector, args.folders, args.out, options)
    except (OSError, ValueError, KeyError, RuntimeError, pickle.UnpicklingError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"{summary['photos_fired_on']} of {summary['photos']} photos fired on; "
        f"wrote {summary['crops']} crops and mined.csv to {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
