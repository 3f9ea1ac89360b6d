"""False boxes per 100 seal-free photos, next to recall on the real photos, for each detector
as ``make run`` serves it (its manifest thresholds, tiling and decode).

    python -m bench.false_alarms --manifest weights/manifest.json \\
        --seal-free heldout-backgrounds=runs/heldout/backgrounds \\
                    ants-bees-val=../shared/data/hymenoptera/val \\
                    distractor-composites=runs/heldout/distractors/negatives \\
        --photos ../shared/data/sysu-logo/unlabelled --out bench/results/false-alarms.json \\
        --write

``--write`` records each model's figures in its manifest entry (``false_alarms``), which
``GET /models`` shows as ``false_per_100_<set>`` metrics.

The held-out backgrounds are the sysu-logo backgrounds whose file-name hash falls in the
held-out 20% (``python -m models.data.synthesize --held-out only``): new training sets are drawn
on the other 80% (``--held-out exclude``). The committed detectors were trained on all of them,
so for those two that set is not held out; the other two sets are held out for every model.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from app.core.config import Settings
from app.serving.tasks.base import Placement
from app.serving.tasks.detect import DetectTask
from bench.server import machine, write_result
from models.manifest import ManifestEntry, read_manifest, update_entry
from models.train.photo_eval import LABELLED_PHOTOS, false_alarms, labelled_photos


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.false_alarms", description=__doc__)
    parser.add_argument("--manifest", type=Path, default=Path("weights/manifest.json"))
    parser.add_argument("--models", nargs="*", default=None, help="default: every detector")
    parser.add_argument(
        "--seal-free", nargs="+", required=True, metavar="NAME=FOLDER",
        help="folders of photos without the seal, each under a name",
    )  # fmt: skip
    parser.add_argument("--photos", type=Path, default=None, help="the labelled real photos")
    parser.add_argument("--photo-labels", type=Path, default=LABELLED_PHOTOS)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--write", action="store_true", help="record the figures in each model's manifest entry"
    )
    return parser


def measure(entry: ManifestEntry, sets: dict[str, Path], photos: Path | None, labels: Path) -> dict:
    """The entry loaded as the service loads it (its dtype under D2L_DTYPE's setting, its
    thresholds, tiling and decode), then its boxes on each seal-free set and the photos."""
    serving = Placement(torch.device("cpu"), dtype_setting=Settings().dtype)
    placement, dtype_reason = serving.for_entry(entry)
    task = DetectTask.load(entry, replace(placement, warm_up_batch=1))
    detector, thresholds = task.detector, task.thresholds
    row: dict = {
        "dtype": str(task.dtype).removeprefix("torch."),
        "dtype_reason": dtype_reason,
        "thresholds": asdict(thresholds),
    }
    for name, folder in sets.items():
        started = time.perf_counter()
        found = false_alarms(detector, folder, thresholds)
        photos_count, boxes = found["negatives_photos"], found["negatives_false_boxes"]
        row[name] = {
            "photos": photos_count,
            "false_boxes": boxes,
            "false_boxes_per_100": round(100 * boxes / max(photos_count, 1), 2),
            "seconds": round(time.perf_counter() - started, 1),
        }
        print(f"{entry.name} {name}: {boxes} false boxes on {photos_count} photos", flush=True)
    if photos is not None:
        row["real_photos"] = labelled_photos(detector, labels, photos, thresholds)
        print(f"{entry.name} real photos: {row['real_photos']}", flush=True)
    return row


def main(args: argparse.Namespace) -> dict:
    sets = {}
    for item in args.seal_free:
        name, _, folder = item.partition("=")
        sets[name] = Path(folder)
    entries = [e for e in read_manifest(args.manifest) if e.task == "detect"]
    chosen = [e for e in entries if args.models is None or e.name in args.models]
    result = {
        "benchmark": "false-alarms",
        "machine": machine(),
        "sets": {name: str(folder) for name, folder in sets.items()},
        "models": {e.name: measure(e, sets, args.photos, args.photo_labels) for e in chosen},
    }
    if args.out is not None:
        write_result(result, args.out)
    if args.write:
        command = "python -m bench.false_alarms " + shlex.join(sys.argv[1:])
        for name, row in result["models"].items():
            record = manifest_record(row, list(sets), command)
            update_entry(args.manifest, name, {"false_alarms": record})
    return result


def manifest_record(row: dict, set_names: list[str], command: str) -> dict:
    """What the manifest keeps of a model's row: per set, photos, false boxes and per 100; the
    real photos; how it was served and the command that measured it."""
    sets = {
        name: {key: row[name][key] for key in ("photos", "false_boxes", "false_boxes_per_100")}
        for name in set_names
    }
    record = {"sets": sets, "dtype": row["dtype"], "thresholds": row["thresholds"]}
    if "real_photos" in row:
        record["real_photos"] = row["real_photos"]
    return record | {"command": command}


if __name__ == "__main__":
    main(get_args_parser().parse_args())
