"""Serving benchmark: d2l-serve against LitServe and a naive FastAPI endpoint, same model, same
machine, same run.

1. In-process ceilings on real 640x480 JPEGs: Pillow decode alone (one thread); d2l-serve's
   pipeline (decode with JPEG draft, evaluation transform, channels-last model, top-k) at the
   best of several batch sizes, in float32 and in ``--dtype``; the peers' pipeline
   (torchvision transforms, float32 model) at batch 1.
2. HTTP: d2l-serve (uvicorn, dynamic batching) on ``POST /classify`` and ``POST /detect`` at
   concurrency 1, 8, 32 and 64; then d2l-serve, LitServe (``max_batch_size=8``,
   ``batch_timeout=0.01``, one worker) and the naive endpoint on ``/classify`` at
   ``--peer-connections`` (16): requests/s, p50/p95/p99, errors, and the ratios.
3. Accuracy of the served classifiers in float32 and in ``--dtype`` (CIFAR-10 test, ants and
   bees val), so the speed of the cheaper dtype is shown next to what it costs.

The classifier is torchvision's ResNet-18 at 224x224 (the ImageNet architecture: resize 256,
centre crop 224). ImageNet weights cannot be downloaded here, so the bench writes one with
seeded random weights: the speed of a forward pass does not depend on the values of the weights
(accuracy is measured on the trained models, step 3).

    python -m bench.serving [--seconds 10] [--dtype bfloat16] [--skip-peers]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import torch

from app.core.config import Settings
from app.serving.intake import decode_image
from bench.classify import photos_640x480
from bench.peers.common import load_model, read_image
from bench.server import ROOT, images_per_second, load_for, machine, running_server, write_result
from models.data.folders import locate_cifar10, read_image_folder, resolve_image_folder
from models.device import DTYPES
from models.manifest import read_manifest, sha256_of
from models.vision.classifier import (
    ClassifierCard,
    ImageClassifier,
    InputSpec,
    build_resnet18,
    save_classifier,
)

BENCH_MODEL = "resnet18-224"
LEVELS = (1, 8, 32, 64)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="load per HTTP level")
    parser.add_argument("--ceiling-seconds", type=float, default=4.0, help="per in-process case")
    parser.add_argument("--levels", type=int, nargs="+", default=list(LEVELS))
    parser.add_argument("--peer-connections", type=int, default=16)
    parser.add_argument(
        "--dtype", choices=("float32", "bfloat16", "float16"), default=default_dtype()
    )
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 16, 32])
    parser.add_argument("--skip-peers", action="store_true", help="d2l-serve only")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "serving.json")
    return parser


def default_dtype() -> str:
    if torch.cuda.is_available():
        return "float16"
    return "bfloat16" if torch.backends.mkldnn.is_available() else "float32"


def write_bench_classifier(folder: Path) -> Path:
    """torchvision's ResNet-18 (1000 classes) at 224x224, seeded weights, as a d2l-serve
    classifier checkpoint that the peers load too."""
    torch.manual_seed(0)
    model = build_resnet18(1000, "imagenet")
    card = ClassifierCard(
        classes=[f"class_{i}" for i in range(1000)],
        stem="imagenet",
        spec=InputSpec(224, 256),
        info={"note": "seeded random weights, for speed measurements only"},
    )
    path = folder / f"{BENCH_MODEL}.safetensors"
    save_classifier(path, model, card)
    return path


def write_bench_manifest(folder: Path, classifier: Path) -> Path:
    """The bench classifier and a copy of the committed detector (with its batching hints),
    both in ``folder``: checkpoints must lie in the manifest's folder."""
    default = Settings().default_detect_model  # what /detect serves without ?model=
    detector = next(
        e for e in read_manifest(ROOT / "weights" / "manifest.json") if e.name == default
    )
    shutil.copyfile(detector.file, folder / detector.file.name)
    models = [
        {
            "name": BENCH_MODEL,
            "task": "classify",
            "file": str(classifier),
            "sha256": sha256_of(classifier),
            "architecture": "resnet18",
            "input_size": 224,
            # Measured here: 16 images per pass is the CPU's best (bfloat16; float32: 8).
            "batching": {"cpu": {"max_batch_size": 16}},
        },
        {
            **detector.info,
            "name": detector.name,
            "task": "detect",
            "file": detector.file.name,
            "sha256": detector.sha256,
        },
    ]
    path = folder / "manifest.json"
    path.write_text(json.dumps({"models": models}))
    return path


def ceilings(classifier_path: Path, photos: list[bytes], args: argparse.Namespace) -> dict:
    """Images/s in this process: decode alone, d2l-serve's pipeline by dtype and batch size,
    the peers' pipeline."""
    device = torch.device(args.device)
    seconds = args.ceiling_seconds
    counter = iter(range(10**9))

    def next_photo() -> bytes:
        return photos[next(counter) % len(photos)]

    result: dict = {
        "decode_pillow_one_thread": round(
            images_per_second(lambda: read_image(next_photo()).load(), 1, seconds), 1
        )
    }
    for dtype_name in dict.fromkeys(("float32", args.dtype)):
        classifier = ImageClassifier.load(classifier_path, device, DTYPES[dtype_name])
        by_batch = {}
        for size in args.batch_sizes:

            def pipeline(size: int = size, classifier: ImageClassifier = classifier) -> None:
                inputs = [
                    classifier.preprocess(
                        decode_image(next_photo(), 10**8, classifier.decode_side).image
                    )
                    for _ in range(size)
                ]
                classifier.classify_inputs(inputs, [5] * size)

            by_batch[size] = round(images_per_second(pipeline, size, seconds), 1)
        result[f"d2l_serve_pipeline_{dtype_name}"] = by_batch
    model, _, transform = load_model(classifier_path)
    model = model.to(device)

    def peer_pipeline() -> None:
        with torch.inference_mode():
            model(transform(read_image(next_photo())).unsqueeze(0).to(device)).softmax(dim=1)

    result["peer_pipeline_float32_batch_1"] = round(images_per_second(peer_pipeline, 1, seconds), 1)
    return result


def http_runs(
    base_url: str, path: str, photos: list[bytes], levels: list[int], seconds: float
) -> list[dict]:
    async def send(client: httpx.AsyncClient, index: int) -> httpx.Response:
        files = {"file": (f"{index}.jpg", photos[index % len(photos)], "image/jpeg")}
        return await client.post(path, files=files)

    rows = []
    for level in levels:
        row = asyncio.run(load_for(base_url, send, seconds, level))
        print(f"  {path} concurrency {level}: {describe(row)}", flush=True)
        rows.append(row)
    return rows


def describe(row: dict) -> str:
    return (
        f"{row['requests_per_second']} req/s, p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms, "
        f"p99 {row['p99_ms']} ms, errors {row['errors']}"
    )


def accuracy(dtype_names: list[str], device: torch.device) -> list[dict]:
    """Top-1 accuracy of the committed classifiers by dtype, through serving's own code."""
    rows = []
    sets: dict[str, Callable[[ImageClassifier], object]] = {}
    cifar = locate_cifar10()
    if cifar is not None:
        sets["resnet18-cifar10"] = lambda c: read_image_folder(cifar, "eval", c.preprocess)
    try:
        ants_bees = resolve_image_folder("hymenoptera")
    except Exception:  # noqa: BLE001 - no local copy and no network: skip that row
        ants_bees = None
    if ants_bees is not None and ants_bees.exists():
        sets["resnet18-hymenoptera"] = lambda c: read_image_folder(
            ants_bees, "eval", c.preprocess, min_side=c.decode_side, classes=c.classes
        )
    entries = {e.name: e for e in read_manifest(ROOT / "weights" / "manifest.json")}
    for name, read in sets.items():
        row: dict = {"model": name}
        images = None
        for dtype_name in dtype_names:
            classifier = ImageClassifier.load(entries[name].file, device, DTYPES[dtype_name])
            images = images or read(classifier)
            correct = 0
            for start in range(0, len(images.images), 256):
                batch = torch.stack(images.images[start : start + 256])
                predicted = classifier.predict(batch).argmax(dim=1)
                correct += (predicted == images.labels[start : start + 256]).sum().item()
            row[dtype_name] = round(correct / len(images.images), 4)
        row["images"] = len(images.images)
        print(f"  accuracy {row}", flush=True)
        rows.append(row)
    return rows


def main(args: argparse.Namespace) -> dict:
    photos = photos_640x480(32)
    result: dict = {
        "machine": machine(),
        "dtype": args.dtype,
        "model": "torchvision ResNet-18, 224x224",
    }
    with tempfile.TemporaryDirectory() as folder:
        classifier = write_bench_classifier(Path(folder))
        manifest = write_bench_manifest(Path(folder), classifier)
        print("in-process ceilings (images/s):", flush=True)
        result["ceilings"] = ceilings(classifier, photos, args)
        print(json.dumps(result["ceilings"], indent=1), flush=True)
        ours_env = {
            "D2L_MANIFEST_PATH": str(manifest),
            "D2L_DEFAULT_CLASSIFY_MODEL": BENCH_MODEL,
            "D2L_DTYPE": args.dtype,
            "D2L_DEVICE": args.device,
        }
        print(f"d2l-serve ({args.dtype}, dynamic batching):", flush=True)
        with running_server(env=ours_env) as base_url:
            result["d2l_serve"] = {
                "classify": http_runs(base_url, "/classify", photos, args.levels, args.seconds),
                "detect": http_runs(base_url, "/detect", photos, args.levels, args.seconds),
            }
            peers_level = [args.peer_connections]
            result["d2l_serve"]["classify_at_peer_connections"] = http_runs(
                base_url, "/classify", photos, peers_level, args.seconds
            )[0]
        if not args.skip_peers:
            peers = {
                "naive_fastapi": ["-m", "bench.peers.naive_fastapi"],
                "litserve": ["-m", "bench.peers.litserve_server"],
            }
            for name, command in peers.items():
                print(f"{name}:", flush=True)
                full = [*command, "--model", str(classifier), "--port", "{port}"]
                with running_server(command=full, ready_path="/health") as base_url:
                    result[name] = http_runs(
                        base_url, "/classify", photos, peers_level, args.seconds
                    )[0]
            ours = result["d2l_serve"]["classify_at_peer_connections"]["requests_per_second"]
            result["ratios"] = {
                f"d2l_serve_over_{name}": round(ours / result[name]["requests_per_second"], 2)
                for name in peers
            }
            print(f"ratios at {args.peer_connections} connections: {result['ratios']}")
    if not args.skip_accuracy:
        dtypes = list(dict.fromkeys(("float32", args.dtype)))
        result["accuracy"] = accuracy(dtypes, torch.device(args.device))
    write_result(result, args.output)
    print_table(result)
    return result


def print_table(result: dict) -> None:
    print("\n| server | endpoint | connections | req/s | p50 ms | p95 ms | p99 ms | errors |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for endpoint in ("classify", "detect"):
        for row in result["d2l_serve"][endpoint]:
            print(_row("d2l-serve", endpoint, row))
    for name in ("naive_fastapi", "litserve"):
        if name in result:
            print(_row(name, "classify", result[name]))
    if "classify_at_peer_connections" in result["d2l_serve"]:
        print(_row("d2l-serve", "classify", result["d2l_serve"]["classify_at_peer_connections"]))


def _row(server: str, endpoint: str, row: dict) -> str:
    return (
        f"| {server} | /{endpoint} | {row['concurrency']} | {row['requests_per_second']} | "
        f"{row['p50_ms']} | {row['p95_ms']} | {row['p99_ms']} | {row['errors']} |"
    )


if __name__ == "__main__":
    started = time.perf_counter()
    main(get_args_parser().parse_args())
    print(f"took {time.perf_counter() - started:.0f} s")
