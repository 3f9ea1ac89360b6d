"""Fast vs Faster R-CNN: detection checkpoints measured the same way, side by side.

Each file of ``python -m models.train detect`` is measured here exactly as training measures an
epoch (validation mAP through the serving wrapper, seals found in the real photos and boxes on
the seal-free photos at the default thresholds) plus the model alone on this machine (images/s
of ``detect`` on the 256x256 validation composites, one at a time), and the training speed the
file records.

    python -m bench.rcnn_ablation runs/rcnn/align-e1.pt runs/rcnn/pool-e1.pt
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

from bench.server import ROOT, images_per_second, machine, write_result
from models.data.detection_csv import read_detection_csv
from models.train.config import DetectConfig
from models.train.detect_eval import evaluate
from models.train.photo_eval import LABELLED_PHOTOS, evaluate_photos
from models.vision.detection.base import DEFAULT_THRESHOLDS
from models.vision.detection.loading import load_detector

DATA = Path(os.environ.get("D2L_DATA_DIR", ROOT.parent / "shared" / "data"))


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", type=Path, nargs="+", help="checkpoints of the detect command")
    parser.add_argument("--seconds", type=float, default=5.0, help="timing of the model alone")
    parser.add_argument(
        "--output", type=Path, default=ROOT / "bench" / "results" / "rcnn-ablation.json"
    )
    return parser


def main(args: argparse.Namespace) -> dict:
    device = torch.device("cpu")
    rows = []
    for path in args.files:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        size = checkpoint["input_size"]
        val_set = read_detection_csv(DATA / "sysu-logo", size, "val", 0.1)
        detector = load_detector(path, device)
        model = detector.model
        measures = DetectConfig(
            photos=DATA / "sysu-logo" / "unlabelled",
            negatives=DATA / "hymenoptera" / "val",
            photo_labels=LABELLED_PHOTOS,
            tiling=checkpoint.get("tiling", False),
        )
        row = evaluate(model, val_set, size, device)
        row |= evaluate_photos(measures, model, detector.class_names, device)
        images = [s.image.float() / 255 for s in val_set[:16]]

        def one_by_one(detector=detector, images=images, size=size) -> None:
            for image in images:
                detector.detect_inputs([image], [(size, size)], [DEFAULT_THRESHOLDS])

        row |= {
            "file": str(path),
            "roi_op": checkpoint.get("roi_op"),
            "epochs": checkpoint["epoch"],
            "train_images_per_second": checkpoint["metrics"].get("examples_per_second"),
            "model_images_per_second": round(images_per_second(one_by_one, 16, args.seconds), 2),
        }
        rows.append(row)
        print(
            f"{path}: roi_op {row['roi_op']}, mAP@0.5 {row['map_50']:.3f}, mAP {row['map']:.3f}, "
            f"photos {row['photos_clear_found']}/{row['photos_clear_total']} clear, "
            f"{row['photos_hard_found']}/{row['photos_hard_total']} hard, "
            f"{row['photos_false_boxes']} false; {row['negatives_false_boxes']} boxes on "
            f"{row['negatives_photos']} seal-free photos; train {row['train_images_per_second']} "
            f"img/s, model alone {row['model_images_per_second']} img/s"
        )
    result = {"benchmark": "rcnn-ablation", "machine": machine(), "rows": rows}
    write_result(result, args.output)
    return result


if __name__ == "__main__":
    main(get_args_parser().parse_args())
