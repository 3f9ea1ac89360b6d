"""Measure a served model's quality in each floating-point format it may be served in.

    python -m models.evaluate resnet18-cifar10 resnet18-hymenoptera tinyssd-logo --dtype all --write

Each model runs through its serving code (the classifier's or detector's own preprocessing,
batched prediction and post-processing) on its own evaluation data: a classifier's test or
validation split (top-1 accuracy), a detector's validation split (COCO mAP@[.5:.95], with
mAP@0.5 beside it). ``--write`` records the figures as the manifest entry's ``numerics``, which
``D2L_DTYPE=auto`` reads (:mod:`models.numerics`); for a detector, ``--photos`` and
``--negatives`` add what it finds in real photos in each format. ``all`` is float32 and the
reduced formats the device runs fast (bfloat16 on an AVX-512 BF16 CPU; float16 and bfloat16
on a GPU).
"""

from __future__ import annotations

import argparse
import os
import shlex
import time
from pathlib import Path
from typing import Any

import torch

from models.data.detection_csv import read_detection_csv
from models.data.folders import (
    LabelledImages,
    download_cifar10,
    locate_cifar10,
    read_image_folder,
    resolve_image_folder,
)
from models.device import DTYPES, describe_device, resolve_device
from models.manifest import ManifestEntry, read_manifest, update_entry
from models.numerics import dtype_name, fast_dtypes
from models.train.config import MASK_ARCHS
from models.train.detect_eval import served_map
from models.train.photo_eval import LABELLED_PHOTOS, false_alarms, labelled_photos
from models.vision.classifier import ImageClassifier
from models.vision.detection.base import served_thresholds
from models.vision.detection.loading import load_detector

DEFAULT_MANIFEST = Path(__file__).resolve().parent.parent / "weights" / "manifest.json"


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m models.evaluate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("names", nargs="+", help="models of the manifest (classify or detect)")
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument(
        "--dtype",
        default="all",
        help="all, or a comma-separated list of float32, bfloat16, float16",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--photos", type=Path, default=None, help="detectors: labelled real photos to find"
    )
    parser.add_argument(
        "--negatives", type=Path, default=None, help="detectors: photos without the object"
    )
    parser.add_argument("--write", action="store_true", help="record them in the manifest")
    return parser


def main(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    try:
        return _measure(args)
    except ValueError as error:  # library code raises; the command says why and exits
        raise SystemExit(str(error)) from None


def _measure(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    device = resolve_device(args.device)
    dtypes = _formats(args.dtype, device)
    entries = {entry.name: entry for entry in read_manifest(args.manifest)}
    unknown = [name for name in args.names if name not in entries]
    if unknown:
        raise SystemExit(f"not in {args.manifest}: {', '.join(unknown)} (see its model names)")
    reports = {}
    for name in args.names:
        entry = entries[name]
        if entry.task not in {"classify", "detect"}:
            raise SystemExit(f"{name} is a {entry.task} model: only classify and detect models")
        if entry.task == "detect":
            report = measure_detector(entry, device, dtypes, args.photos, args.negatives)
        else:
            report = measure_classifier(entry, device, dtypes)
        report |= {
            "measured_on": describe_device(device),
            "command": _command(args),
        }
        reports[name] = report
        if args.write:
            update_entry(args.manifest, name, {"numerics": report})
    return reports


def measure_classifier(
    entry: ManifestEntry, device: torch.device, dtypes: list[torch.dtype]
) -> dict[str, Any]:
    """Top-1 accuracy on the classifier's evaluation split in each format."""
    report: dict[str, Any] = {}
    images: LabelledImages | None = None
    for dtype in dtypes:
        classifier = ImageClassifier.load(entry.file, device, dtype)
        if images is None:  # decoded once, as serving decodes (JPEG draft included)
            images = _classifier_data(entry, classifier)
            report["metric"] = f"{images.split}_accuracy"
        started = time.perf_counter()
        right = 0
        for start in range(0, len(images), 128):
            batch = torch.stack(images.images[start : start + 128])
            guesses = classifier.predict(batch).argmax(dim=1)
            right += int((guesses == images.labels[start : start + 128]).sum())
        report[dtype_name(dtype)] = right / len(images)
        _say(entry.name, dtype, report["metric"], right / len(images), len(images), started)
    return report


def measure_detector(
    entry: ManifestEntry,
    device: torch.device,
    dtypes: list[torch.dtype],
    photos: Path | None = None,
    negatives: Path | None = None,
) -> dict[str, Any]:
    """COCO mAP on the detector's validation split in each format (a Faster R-CNN's backbone
    in the reduced one, its heads in float32; a Mask R-CNN's mask mAP too); with
    ``photos``/``negatives``, also what it finds in the labelled real photos (a Mask R-CNN's
    mask IoU with the hand-drawn outlines too) and the boxes it draws on photos without the
    object, at the thresholds it is served with (the entry's ``thresholds``, else the
    defaults)."""
    report: dict[str, Any] = {"metric": "map"}
    thresholds = served_thresholds(entry.card.thresholds)  # what a request naming none gets
    checkpoint = torch.load(entry.file, map_location="cpu", weights_only=True)
    size = int(checkpoint["input_size"])
    masks = checkpoint.get("arch") in MASK_ARCHS  # scored on their masks too
    samples = read_detection_csv(
        detection_folder(checkpoint), size, "val", validation_fraction(checkpoint), with_masks=masks
    )
    for dtype in dtypes:
        detector = load_detector(entry.file, device, dtype)
        if detector.dtype != dtype:
            served = dtype_name(detector.dtype)
            print(f"{entry.name}: computes in {served} only, not {dtype_name(dtype)}")
            continue
        started = time.perf_counter()
        scores = served_map(detector, samples, size)
        report[dtype_name(dtype)] = scores["map"]
        report[f"{dtype_name(dtype)}_map_50"] = scores["map_50"]
        for key in ("mask_map", "mask_map_50"):
            if key in scores:
                report[f"{dtype_name(dtype)}_{key}"] = scores[key]
        found: dict[str, Any] = {}
        if photos is not None:
            found |= labelled_photos(detector, LABELLED_PHOTOS, photos, thresholds)
        if negatives is not None:
            found |= false_alarms(detector, negatives, thresholds)
        if found:
            report[f"{dtype_name(dtype)}_photos"] = found | {
                "score_threshold": thresholds.score_threshold
            }
            print(f"{entry.name} {dtype_name(dtype)}: {found}")
        _say(entry.name, dtype, "map", scores["map"], len(samples), started)
    return report


def _command(args: argparse.Namespace) -> str:
    """The command that measures the same again (the manifest path as given)."""
    words = [*args.names, "--dtype", args.dtype]
    for option in ("photos", "negatives"):
        if getattr(args, option) is not None:
            words += [f"--{option}", str(getattr(args, option))]
    return "python -m models.evaluate " + shlex.join(words)


def _formats(spec: str, device: torch.device) -> list[torch.dtype]:
    if spec.strip().lower() == "all":
        return [torch.float32, *fast_dtypes(device)]
    names = [name.strip().lower() for name in spec.split(",") if name.strip()]
    wrong = [name for name in names if name not in DTYPES]
    if not names or wrong:
        raise ValueError(f"--dtype takes all or names among {', '.join(DTYPES)}, got {spec!r}")
    if "float32" not in names:
        names.insert(0, "float32")  # the reference every other format is judged against
    return [DTYPES[name] for name in names]


def _classifier_data(entry: ManifestEntry, classifier: ImageClassifier) -> LabelledImages:
    data = entry.card.data or {}
    name = str(data.get("name", ""))
    prepare, side = classifier.preprocess, classifier.decode_side
    if name == "CIFAR-10":
        local = locate_cifar10()
        if local is None:
            return download_cifar10("test", prepare)
        return read_image_folder(local, "eval", prepare, side, classifier.classes)
    if not name:
        raise ValueError(f"{entry.name}: the manifest does not say which data it was trained on")
    return read_image_folder(resolve_image_folder(name), "eval", prepare, side, classifier.classes)


def detection_folder(checkpoint: dict[str, Any]) -> Path:
    """The training set of a detector: under $D2L_DATA_DIR by its folder name, else the path
    its training command was given."""
    trained_on = Path(str(checkpoint["args"]["data"]))
    if "D2L_DATA_DIR" in os.environ:
        local = Path(os.environ["D2L_DATA_DIR"]) / trained_on.name
        if local.is_dir():
            return local
    return trained_on


def validation_fraction(checkpoint: dict[str, Any]) -> float:
    return float(checkpoint["args"].get("val_fraction", 0.1))


def _say(
    name: str, dtype: torch.dtype, metric: str, value: float, count: int, started: float
) -> None:
    seconds = time.perf_counter() - started
    print(f"{name} {dtype_name(dtype)}: {metric} {value:.4f} on {count} images ({seconds:.1f} s)")


if __name__ == "__main__":
    main(get_args_parser().parse_args())
