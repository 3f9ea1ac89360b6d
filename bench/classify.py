"""Classification benchmark: the model alone, the whole pipeline, and ``POST /classify``.

- Model: images/s of the ResNet-18's forward pass at batch 1 and 32 (preprocessed input).
- Pipeline, in process: decode (``app.serving.intake``, JPEG draft), preprocess, model, top-k, at
  batch 1 and 32, on real 640x480 JPEGs (ants and bees validation photos, resized).
- HTTP: ``POST /classify`` against a uvicorn server started here (as `make run` serves it), at
  concurrency 1 and 16: requests/s, p50, p99.

    python -m bench.classify [--model weights/resnet18-hymenoptera.safetensors]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
from pathlib import Path

import httpx
import torch
from PIL import Image

from app.serving.intake import ImageLimits, decode_image
from bench.server import ROOT, images_per_second, load_test, machine, running_server, write_result
from models.vision.classifier import ImageClassifier

DATA = Path(os.environ.get("D2L_DATA_DIR", ROOT.parent / "shared" / "data")) / "hymenoptera"


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", type=Path, default=ROOT / "weights" / "resnet18-hymenoptera.safetensors"
    )
    parser.add_argument("--name", default="resnet18-hymenoptera", help="its name in /models")
    parser.add_argument("--requests", type=int, default=200, help="HTTP requests per level")
    parser.add_argument("--seconds", type=float, default=5.0, help="timing per in-process case")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "classify.json")
    return parser


def photos_640x480(count: int = 32) -> list[bytes]:
    """Real photos as 640x480 JPEGs (quality 90), as a phone app would upload them."""
    paths = sorted((DATA / "val").glob("*/*.jpg"))[:count]
    files = []
    for path in paths:
        with Image.open(path) as image:
            buffer = io.BytesIO()
            image.convert("RGB").resize((640, 480), Image.Resampling.BICUBIC).save(
                buffer, format="JPEG", quality=90
            )
            files.append(buffer.getvalue())
    return files


def main(args: argparse.Namespace) -> dict:
    classifier = ImageClassifier.load(args.model, torch.device("cpu"))
    size = classifier.input_size
    classifier.predict(torch.zeros(32, 3, size, size, dtype=torch.uint8))  # as the warm-up
    model_rows = []
    for batch in (1, 32):
        inputs = torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8)
        rate = images_per_second(
            lambda inputs=inputs: classifier.predict(inputs), batch, args.seconds
        )
        model_rows.append({"batch": batch, "images_per_second": round(rate, 1)})

    files = photos_640x480()
    pipeline_rows = []
    for batch in (1, 32):

        def pipeline(batch=batch) -> None:
            for start in range(0, len(files), batch):
                images = [
                    decode_image(data, ImageLimits(), classifier.decode_side).image
                    for data in files[start : start + batch]
                ]
                classifier.classify(images, top_k=5)

        rate = images_per_second(pipeline, len(files), args.seconds)
        pipeline_rows.append({"batch": batch, "images_per_second": round(rate, 1)})

    http_rows = []
    with running_server() as base_url:

        def classify(client: httpx.AsyncClient, index: int):
            upload = {"file": ("photo.jpg", files[index % len(files)], "image/jpeg")}
            return client.post("/classify", params={"model": args.name}, files=upload)

        for concurrency in (1, 16):
            http_rows.append(asyncio.run(load_test(base_url, classify, args.requests, concurrency)))

    result = {
        "benchmark": "classify",
        "machine": machine(),
        "model": {
            "path": str(args.model.resolve().relative_to(ROOT)),
            "input_size": size,
            "rows": model_rows,
        },
        "pipeline": {"images": f"{len(files)} real photos as 640x480 JPEGs", "rows": pipeline_rows},
        "http": {"images": "the same JPEGs in turn", "rows": http_rows},
    }
    for row in model_rows:
        print(f"model, batch {row['batch']:>2}: {row['images_per_second']:,.1f} images/s")
    for row in pipeline_rows:
        print(
            f"pipeline (decode + preprocess + model + top-k), batch {row['batch']:>2}: "
            f"{row['images_per_second']:,.1f} images/s"
        )
    for row in http_rows:
        print(
            f"HTTP POST /classify, {row['concurrency']:>2} client(s): "
            f"{row['requests_per_second']} req/s, p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms"
        )
    write_result(result, args.output)
    return result


if __name__ == "__main__":
    main(get_args_parser().parse_args())
