"""TinySSD and Faster R-CNN side by side: quality as training recorded it, size, and speed on
this machine, the model alone and over HTTP, measured in one run.

- Quality: the manifest's figures (real photos, seal-free photos, synthetic validation mAP)
  at the thresholds and in the format the model is served with (its ``numerics``, written by
  ``python -m models.evaluate``), each of which the test suite measures again via ``/detect``.
- Model alone: images/s of ``detect`` on decoded 256x256 validation images, one at a time
  (the detector's own preprocessing, forward pass and NMS in the served format; no HTTP, no
  decoding).
- HTTP: ``POST /detect?model=NAME`` against one ``python -m app.server`` started here with
  its defaults, at concurrency 1 and 4, on the 256x256 images and on the 700-1,900 px photos.

    python -m bench.detectors [--requests 40]
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

import httpx

from app.serving.intake import ImageLimits, decode_image
from bench.server import ROOT, images_per_second, load_test, machine, running_server, write_result
from models.device import describe_device, resolve_device
from models.manifest import read_manifest
from models.numerics import choose_dtype, dtype_name
from models.vision.detection.loading import load_detector

DATA = Path(os.environ.get("D2L_DATA_DIR", ROOT.parent / "shared" / "data")) / "sysu-logo"
MODELS = ("tinyssd-logo", "fasterrcnn-logo")
QUALITY = (
    "photos_clear_found",
    "photos_clear_total",
    "photos_hard_found",
    "photos_hard_total",
    "photos_false_boxes",
    "negatives_false_boxes",
    "negatives_photos",
    "map_50",
    "map",
)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40, help="HTTP requests per level")
    parser.add_argument("--seconds", type=float, default=5.0, help="timing of the model alone")
    parser.add_argument(
        "--output", type=Path, default=ROOT / "bench" / "results" / "detectors.json"
    )
    return parser


def main(args: argparse.Namespace) -> dict:
    entries = {e.name: e for e in read_manifest(ROOT / "weights" / "manifest.json")}
    small = sorted((DATA / "images").glob("*.jpg"))[:8]
    large = sorted((DATA / "unlabelled").glob("*.jpg"))
    device = resolve_device("auto")  # as the service picks: a GPU where there is one
    rows = []
    for name in MODELS:
        entry = entries[name]
        numerics = entry.info.get("numerics") or {}
        # As `make run` serves it: the format `auto` picks, at the model's own thresholds.
        dtype = choose_dtype("auto", device, numerics).dtype
        detector = load_detector(entry.file, device, dtype)
        module = detector.model
        decoded = [
            decode_image(path.read_bytes(), ImageLimits(), min_side=detector.decode_side)
            for path in small
        ]
        images = [d.image for d in decoded]
        sizes = [(d.width, d.height) for d in decoded]
        detector.detect(images[:1], sizes[:1])  # first-call costs out of the timing

        def one_by_one(detector=detector, images=images, sizes=sizes) -> None:
            for image, size in zip(images, sizes, strict=True):
                detector.detect([image], [size])

        rate = images_per_second(one_by_one, len(images), args.seconds)
        name_of = dtype_name(dtype)
        # Quality at the served thresholds, as `python -m models.evaluate` measured it in this
        # format; the training's own figures (at 0.5) where it was never measured.
        metrics = {
            **entry.info["metrics"],
            **numerics.get(f"{name_of}_photos", {}),
            **(
                {"map": numerics[name_of], "map_50": numerics[f"{name_of}_map_50"]}
                if f"{name_of}_map_50" in numerics
                else {}
            ),
        }
        rows.append(
            {
                "model": name,
                "arch": entry.card.architecture,
                "device": describe_device(device),
                "dtype": name_of,
                "score_threshold": metrics.get("score_threshold", 0.5),
                "parameters": sum(p.numel() for p in module.parameters()),
                "file_mb": round(entry.file.stat().st_size / 1e6, 1),
                **{key: metrics.get(key) for key in QUALITY},
                "model_images_per_second": round(rate, 1),
                "http": [],
            }
        )
        del detector, module

    with running_server() as base_url:
        for row in rows:
            for label, paths in (("256x256", small), ("photos", large)):
                files = [path.read_bytes() for path in paths]

                def detect(client: httpx.AsyncClient, index: int, files=files, model=row["model"]):
                    upload = {"file": ("image.jpg", files[index % len(files)], "image/jpeg")}
                    return client.post("/detect", files=upload, params={"model": model})

                for concurrency in (1, 4):
                    measured = asyncio.run(load_test(base_url, detect, args.requests, concurrency))
                    row["http"].append({"images": label, **measured})

    result = {"benchmark": "detectors", "machine": machine(), "rows": rows}
    print(
        "| model | params | real photos: clear / hard found, false boxes | boxes on seal-free "
        "photos | synthetic mAP@0.5 / mAP | model alone img/s | HTTP 256 px req/s (1 / 4) "
        "| HTTP photos req/s (1 / 4) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        http = {(h["images"], h["concurrency"]): h["requests_per_second"] for h in row["http"]}
        print(
            f"| `{row['model']}` | {row['parameters'] / 1e6:.1f} M | "
            f"{row['photos_clear_found']}/{row['photos_clear_total']}, "
            f"{row['photos_hard_found']}/{row['photos_hard_total']}, "
            f"{row['photos_false_boxes']} | "
            f"{row['negatives_false_boxes']} on {row['negatives_photos']} | "
            f"{row['map_50']:.3f} / {row['map']:.3f} | {row['model_images_per_second']} | "
            f"{http[('256x256', 1)]} / {http[('256x256', 4)]} | "
            f"{http[('photos', 1)]} / {http[('photos', 4)]} |"
        )
    write_result(result, args.output)
    return result


if __name__ == "__main__":
    main(get_args_parser().parse_args())
