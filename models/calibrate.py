"""Choose a detector's default score threshold on its validation split, by a stated rule.

    python -m models.calibrate fasterrcnn-logo --recall 0.99 --write

The rule: the highest threshold, rounded down to a hundredth, at which the served detector still
finds (a box of the object's class with IoU >= 0.5) at least ``--recall`` of the validation
split's objects, and never below ``--floor`` (the service's default 0.5). A detector whose scores
on the objects it was trained for sit near 1 while its false boxes spread lower (a Faster
R-CNN's do) then keeps what it finds and drops what it imagines; one whose true scores spread
low (TinySSD's) stays at the floor, since going lower would flood photos with false boxes.
``--write`` records the threshold as the manifest entry's ``thresholds``, which
``/detect`` applies to requests that name none, with how it was chosen beside it. Real photos
(``--photos``, ``--negatives``) are measured at the new threshold for the record only: they are
test data and play no part in the choice.
"""

from __future__ import annotations

import argparse
import math
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from models.data.detection_csv import DetectionSample, read_detection_csv
from models.data.synthesize import IMAGE_SUFFIXES as SUFFIXES
from models.device import resolve_device
from models.evaluate import DEFAULT_MANIFEST, detection_folder, validation_fraction
from models.manifest import read_manifest, update_entry
from models.ops import box_iou
from models.train.photo_eval import LABELLED_PHOTOS, detect_photo, false_alarms, labelled_photos
from models.vision.detection.base import DEFAULT_THRESHOLDS, DetectionThresholds, ObjectDetector
from models.vision.detection.loading import load_detector

FOUND_IOU = 0.5
CANDIDATES = DetectionThresholds(score_threshold=0.0, iou_threshold=0.5, max_detections=100)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m models.calibrate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("name", help="a detect model of the manifest")
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument(
        "--recall", type=float, default=0.99, help="share of validation objects to keep"
    )
    parser.add_argument(
        "--floor",
        type=float,
        default=DEFAULT_THRESHOLDS.score_threshold,
        help="never choose a threshold below this one",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--photos", type=Path, default=None, help="labelled real photos (record)")
    parser.add_argument(
        "--negatives", type=Path, default=None, help="photos without the object (record)"
    )
    parser.add_argument(
        "--val-negatives", type=Path, nargs="*", default=[],
        help="validation photos without the object (e.g. distractor composites drawn apart "
        "from the test ones): the threshold also keeps their false boxes within --max-false",
    )  # fmt: skip
    parser.add_argument(
        "--max-false", type=float, default=2.5,
        help="false boxes per 100 --val-negatives photos allowed (2.5: one in 40)",
    )  # fmt: skip
    parser.add_argument("--write", action="store_true", help="record it in the manifest")
    return parser


def recall_threshold(best_scores: Sequence[float], recall: float) -> float:
    """The highest score threshold, a multiple of 0.01, that keeps ``recall`` of the objects.

    Args:
        best_scores: per object, the best score of a box that finds it (0 when none does).
        recall: share of the objects to keep, in (0, 1].

    A box is kept when its score is above the threshold (``/detect`` keeps ``score >
    score_threshold``), so the threshold lies strictly below the lowest score kept.

    Raises:
        ValueError: ``recall`` outside (0, 1], no objects, or fewer objects found at any score
            than ``recall`` asks for.
    """
    if not 0 < recall <= 1:
        raise ValueError(f"recall must lie in (0, 1], got {recall}")
    if not best_scores:
        raise ValueError("no objects to calibrate on")
    ordered = sorted(best_scores)
    misses = math.floor((1 - recall) * len(ordered) + 1e-9)
    lowest_kept = ordered[misses]
    if lowest_kept <= 0:
        found = sum(score > 0 for score in ordered)
        raise ValueError(
            f"recall {recall} needs {len(ordered) - misses} of {len(ordered)} objects found, "
            f"but only {found} are found at any score"
        )
    return max(0.0, (math.ceil(lowest_kept * 100 - 1e-9) - 1) / 100)


def false_alarm_threshold(box_scores: Sequence[float], photos: int, most_per_100: float) -> float:
    """The lowest score threshold, a multiple of 0.01, at which the boxes drawn on ``photos``
    photos without the object (``box_scores``, every box at any score) are at most
    ``most_per_100`` per 100 photos (a box is kept when its score is above the threshold)."""
    if photos < 1:
        raise ValueError("no photos without the object to calibrate on")
    allowed = math.floor(most_per_100 * photos / 100 + 1e-9)
    ordered = sorted(box_scores, reverse=True)
    if len(ordered) <= allowed:
        return 0.0
    return min(1.0, math.ceil(ordered[allowed] * 100 - 1e-9) / 100)


def seal_free_scores(detector: ObjectDetector, folders: Sequence[Path]) -> tuple[list[float], int]:
    """Every box's score (at any score) on the photos under ``folders``, and how many photos,
    through the serving path."""
    scores: list[float] = []
    files = [p for f in folders for p in sorted(f.rglob("*")) if p.suffix.lower() in SUFFIXES]
    for path in files:
        scores += [d.score for d in detect_photo(detector, path, CANDIDATES)]
    return scores, len(files)


@torch.inference_mode()
def best_scores(detector: ObjectDetector, samples: list[DetectionSample], size: int) -> list[float]:
    """Per object of ``samples``, the best score of a served box of its class that finds it."""
    scores: list[float] = []
    for start in range(0, len(samples), 16):
        chosen = samples[start : start + 16]
        found = detector.detect_inputs(
            [s.image.float() / 255 for s in chosen],
            [(size, size)] * len(chosen),
            [CANDIDATES] * len(chosen),
        )
        for sample, detections in zip(chosen, found, strict=True):
            boxes = torch.tensor([d.box for d in detections]).reshape(-1, 4)
            box_scores = torch.tensor([d.score for d in detections])
            classes = torch.tensor([d.class_id for d in detections], dtype=torch.long)
            iou = box_iou(boxes, sample.boxes * size)
            for index, label in enumerate(sample.labels.tolist()):
                hits = (iou[:, index] >= FOUND_IOU) & (classes == label)
                scores.append(float(box_scores[hits].max()) if bool(hits.any()) else 0.0)
    return scores


def main(args: argparse.Namespace) -> dict[str, Any]:
    entries = {entry.name: entry for entry in read_manifest(args.manifest)}
    entry = entries.get(args.name)
    if entry is None or entry.task != "detect":
        detect = sorted(name for name, e in entries.items() if e.task == "detect")
        raise SystemExit(f"{args.name!r} is not a detect model of {args.manifest}: {detect}")
    device = resolve_device(args.device)
    checkpoint = torch.load(entry.file, map_location="cpu", weights_only=True)
    size = int(checkpoint["input_size"])
    samples = read_detection_csv(
        detection_folder(checkpoint), size, "val", validation_fraction(checkpoint)
    )
    detector = load_detector(entry.file, device)
    scores = best_scores(detector, samples, size)
    try:
        by_recall = recall_threshold(scores, args.recall)
    except ValueError as error:
        raise SystemExit(f"{args.name}: {error}") from None
    threshold = max(args.floor, by_recall)
    by_false = None
    if args.val_negatives:
        negative_scores, photos = seal_free_scores(detector, args.val_negatives)
        by_false = false_alarm_threshold(negative_scores, photos, args.max_false)
        threshold = max(threshold, by_false)
    kept = sum(score > threshold for score in scores)
    rule = (
        f"highest score threshold (a multiple of 0.01) keeping recall >= {args.recall} "
        f"of the validation split's objects (IoU >= 0.5), at least {args.floor}"
    )
    if by_false is not None:
        rule += f", and at most {args.max_false} false boxes per 100 validation seal-free photos"
    record: dict[str, Any] = {
        "rule": rule,
        "by_recall": by_recall,
        **({"by_false_alarms": by_false} if by_false is not None else {}),
        "objects": len(scores),
        "kept": kept,
        "lowest_kept_score": round(min((s for s in scores if s > threshold), default=0.0), 4),
        "command": "python -m models.calibrate "
        + shlex.join(
            [args.name, "--recall", str(args.recall), "--floor", str(args.floor)]
            + (
                [
                    "--val-negatives",
                    *map(str, args.val_negatives),
                    "--max-false",
                    str(args.max_false),
                ]
                if args.val_negatives
                else []
            )
        ),
    }
    print(
        f"{args.name}: score_threshold {threshold:.2f} (by recall {by_recall:.2f}, floor "
        f"{args.floor}) keeps {kept} of {len(scores)} validation objects"
    )
    chosen = DetectionThresholds(score_threshold=threshold)
    if args.photos is not None:
        record["photos"] = labelled_photos(detector, LABELLED_PHOTOS, args.photos, chosen)
        print(f"{args.name} real photos at {threshold:.2f}: {record['photos']}")
    if args.negatives is not None:
        record["negatives"] = false_alarms(detector, args.negatives, chosen)
        print(f"{args.name} photos without the object at {threshold:.2f}: {record['negatives']}")
    if args.write:
        update_entry(
            args.manifest,
            args.name,
            {"thresholds": {"score_threshold": threshold}, "thresholds_calibration": record},
        )
    return {"score_threshold": threshold, **record}


if __name__ == "__main__":
    main(get_args_parser().parse_args())
