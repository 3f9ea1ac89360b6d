"""Detection benchmark: the model alone, the whole pipeline, and ``POST /detect`` over HTTP.

- Model: images/s of TinySSD's forward pass at batch 1 and 32 (already preprocessed input).
- Pipeline, in process: decode (``app.serving.intake``), preprocess, model, per-class NMS,
  per image, on real JPEGs of several sizes (the sysu-logo images, the larger unlabelled photos).
- HTTP: ``POST /detect`` against a uvicorn server started here, at concurrency 1 and 16:
  requests/s, p50 and p99.

    python -m bench.detect [--requests 200] [--model weights/tinyssd-logo.pt]
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

import httpx
import torch

from app.serving.intake import ImageLimits, decode_image
from bench.server import ROOT, images_per_second, load_test, machine, running_server, write_result
from models.vision.detection.tinyssd import TinySSDDetector

DATA = Path(os.environ.get("D2L_DATA_DIR", ROOT.parent / "shared" / "data")) / "sysu-logo"


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "weights" / "tinyssd-logo.pt")
    parser.add_argument("--requests", type=int, default=200, help="HTTP requests per level")
    parser.add_argument("--seconds", type=float, default=5.0, help="timing per in-process case")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "detect.json")
    return parser


def main(args: argparse.Namespace) -> dict:
    detector = TinySSDDetector.load(args.model, torch.device("cpu"))
    size = detector.input_size
    detector.predict(
        torch.rand(32, 3, size, size)
    )  # the service's warm-up (app/serving/tasks/detect.py)
    model_rows = []
    for batch in (1, 32):
        inputs = torch.rand(batch, 3, size, size)
        rate = images_per_second(
            lambda inputs=inputs: detector.predict(inputs), batch, args.seconds
        )
        model_rows.append({"batch": batch, "images_per_second": round(rate, 1)})

    small = sorted((DATA / "images").glob("*.jpg"))[:8]
    large = sorted((DATA / "unlabelled").glob("*.jpg"))
    pipeline_rows = []
    for name, paths in (("256x256 JPEGs", small), ("photos 700-1900 px", large)):
        files = [path.read_bytes() for path in paths]

        def pipeline(files=files) -> None:
            for data in files:
                decoded = decode_image(data, ImageLimits(), min_side=detector.decode_side)
                detector.detect([decoded.image], [(decoded.width, decoded.height)])

        rate = images_per_second(pipeline, len(files), args.seconds)
        pipeline_rows.append(
            {"images": name, "count": len(files), "images_per_second": round(rate, 1)}
        )

    http_rows = []
    files = [path.read_bytes() for path in small + large]
    with running_server() as base_url:

        def detect(client: httpx.AsyncClient, index: int):
            upload = {"file": ("image.jpg", files[index % len(files)], "image/jpeg")}
            return client.post("/detect", files=upload)

        for concurrency in (1, 16):
            http_rows.append(asyncio.run(load_test(base_url, detect, args.requests, concurrency)))

    result = {
        "benchmark": "detect",
        "machine": machine(),
        "model": {"path": str(args.model.relative_to(ROOT)), "rows": model_rows},
        "pipeline": pipeline_rows,
        "http": {"images": "the 8 small and 9 large JPEGs in turn", "rows": http_rows},
    }
    for row in model_rows:
        print(f"model, batch {row['batch']:>2}: {row['images_per_second']:,.1f} images/s")
    for row in pipeline_rows:
        print(
            f"pipeline (decode + preprocess + model + NMS), {row['images']}: "
            f"{row['images_per_second']:,.1f} images/s"
        )
    for row in http_rows:
        print(
            f"HTTP POST /detect, {row['concurrency']:>2} client(s): "
            f"{row['requests_per_second']} req/s, p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms"
        )
    write_result(result, args.output)
    return result


if __name__ == "__main__":
    main(get_args_parser().parse_args())
