"""Which speed-ups beyond the numeric format pay off for the served detectors on this machine.

For each detector (``tinyssd-logo`` and ``fasterrcnn-logo`` by default) and each variant, the
model alone (its own preprocessing, forward pass and NMS; no HTTP, no JPEG decoding) in
images/s on the synthetic 256x256 validation images one at a time and four at a time, and on
the 700-1,900 px real photos one at a time (TinySSD tiles them: up to 10 views per photo); then
mAP@[.5:.95] of the variant on the detector's validation split, so a speed-up is only adopted
with its quality (the tolerance of :mod:`models.numerics`).

Variants: eager ``float32`` and ``bfloat16`` (a Faster R-CNN computes its backbone in the
reduced format and its heads in float32); ``+compile`` (``torch.compile``, Inductor: the whole
TinySSD, the Faster R-CNN's backbone with dynamic shapes, as photos differ in size);
``@1thread`` (one intra-op thread: what each of two single-threaded workers would get on a
2-core machine).

    python -m bench.detect_speedups [--models tinyssd-logo fasterrcnn-logo] [--seconds 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from app.serving.intake import ImageLimits, decode_image
from bench.server import ROOT, images_per_second, machine, write_result
from models.data.detection_csv import read_detection_csv
from models.manifest import read_manifest
from models.train.detect_eval import served_map
from models.vision.detection.base import ObjectDetector
from models.vision.detection.loading import load_detector
from models.vision.detection.rcnn import RCNNDetector

VARIANTS = (
    "float32",
    "bfloat16",
    "float32+compile",
    "bfloat16+compile",
    "bfloat16@1thread",
)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["tinyssd-logo", "fasterrcnn-logo"])
    parser.add_argument("--seconds", type=float, default=5.0, help="per variant and input set")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument(
        "--output", type=Path, default=ROOT / "bench" / "results" / "detect-speedups.json"
    )
    return parser


def build(path: Path, variant: str) -> ObjectDetector:
    """The detector of ``variant``, compiled where it says so (compilation runs on first use)."""
    dtype = torch.bfloat16 if variant.startswith("bfloat16") else torch.float32
    detector = load_detector(path, torch.device("cpu"), dtype)
    if "+compile" in variant:
        if isinstance(detector, RCNNDetector):
            backbone = detector.model.backbone
            detector.model.backbone = torch.compile(backbone, dynamic=True)
        else:
            detector.model = torch.compile(detector.model)
    return detector


def measure(detector: ObjectDetector, images: dict[str, list], seconds: float) -> dict:
    """Images/s on each input set (one at a time, and four at a time for the small images)."""
    row: dict = {}
    for label, decoded in images.items():
        pictures = [d.image for d in decoded]
        sizes = [(d.width, d.height) for d in decoded]
        group = (1, 4) if label == "256x256" else (1,)
        for size in group:

            def run(pictures=pictures, sizes=sizes, size=size) -> None:
                for start in range(0, len(pictures), size):
                    detector.detect(pictures[start : start + size], sizes[start : start + size])

            started = time.perf_counter()
            run()  # the first pass compiles where it is asked to
            row.setdefault("first_pass_seconds", {})[f"{label}_x{size}"] = round(
                time.perf_counter() - started, 1
            )
            row[f"{label}_x{size}"] = round(images_per_second(run, len(pictures), seconds), 1)
    return row


def main(args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    entries = {e.name: e for e in read_manifest(ROOT / "weights" / "manifest.json")}
    result: dict = {"benchmark": "detect-speedups", "machine": machine(), "models": {}}
    threads = torch.get_num_threads()
    for name in args.models:
        entry = entries[name]
        checkpoint = torch.load(entry.file, map_location="cpu", weights_only=True)
        size = int(checkpoint["input_size"])
        data = Path(str(checkpoint["args"]["data"]))
        local = ROOT.parent / "shared" / "data" / data.name
        folder = local if local.is_dir() else data
        samples = read_detection_csv(
            folder, size, "val", float(checkpoint["args"].get("val_fraction", 0.1))
        )
        side = load_detector(entry.file, torch.device("cpu")).decode_side
        small = sorted((folder / "images").glob("*.jpg"))[:8]
        photos = sorted((folder / "unlabelled").glob("*.jpg"))
        images = {
            label: [decode_image(p.read_bytes(), ImageLimits(), min_side=side) for p in paths]
            for label, paths in (("256x256", small), ("photos", photos))
        }
        rows: dict = {}
        for variant in args.variants:
            torch.set_num_threads(1 if "@1thread" in variant else threads)
            torch._dynamo.reset()
            try:
                detector = build(entry.file, variant)
                row = measure(detector, images, args.seconds)
                row["map"] = round(served_map(detector, samples, size)["map"], 4)
            except Exception as error:  # a variant that cannot run is a finding, not a crash
                row = {"error": f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"}
            rows[variant] = row
            print(f"{name} {variant}: {row}", flush=True)
        torch.set_num_threads(threads)
        result["models"][name] = rows
    write_result(result, args.output)
    return result


if __name__ == "__main__":
    main(get_args_parser().parse_args())
