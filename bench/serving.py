"""Serving benchmark: d2l-serve against LitServe and a naive FastAPI endpoint, the same
checkpoint file, same machine, same run.

1. In-process ceilings on real 640x480 JPEGs: Pillow decode alone (one thread); d2l-serve's
   pipeline (decode with JPEG draft, evaluation transform, channels-last model, top-k) at
   several batch sizes, in float32 and in the format it serves the model in; the peers'
   pipeline (torchvision transforms, float32 model) at batch 1.
2. HTTP: d2l-serve as ``make run`` starts it (its defaults: ``D2L_DTYPE=auto``, dynamic
   batching) on ``POST /classify`` and ``POST /detect`` at concurrency 1, 8, 32 and 64; then
   d2l-serve, LitServe (``max_batch_size=8``, ``batch_timeout=0.01``, one worker) in float32 as
   a user writes it and again in d2l-serve's numeric format, and the naive endpoint (float32)
   on ``/classify`` at ``--peer-connections`` (16): requests/s, p50/p95/p99, errors, ratios.
3. Accuracy of the served classifiers in float32 and in that format (CIFAR-10 test, ants and
   bees val), so the speed of the cheaper format is shown next to what it costs.

The model (``--model``) is a classifier of the manifest, by default ``resnet18-hymenoptera``,
the one ``/classify`` serves (CIFAR stem, 64 px input); every server loads its very file.
``--model stand-in`` uses torchvision's ResNet-18 at 224x224 with seeded weights instead (no
ImageNet weights here; a forward pass costs the same whatever the weights).

    python -m bench.serving [--seconds 10] [--model NAME] [--dtype bfloat16] [--skip-peers]
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
from app.serving.intake import ImageLimits, decode_image
from bench.classify import photos_640x480
from bench.peers.common import load_model, read_image
from bench.server import ROOT, images_per_second, load_for, machine, running_server, write_result
from models.data.folders import locate_cifar10, read_image_folder, resolve_image_folder
from models.device import DTYPES
from models.manifest import default_models, read_manifest, sha256_of
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
        "--model", default="resnet18-hymenoptera", help="a classifier of the manifest, or stand-in"
    )
    parser.add_argument(
        "--dtype",
        choices=("float32", "bfloat16", "float16"),
        default=None,
        help="force d2l-serve's format (default: its own choice, D2L_DTYPE=auto)",
    )
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 16, 32])
    parser.add_argument("--skip-peers", action="store_true", help="d2l-serve only")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "serving.json")
    return parser


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


def committed_copy(folder: Path, name: str) -> dict:
    """The committed manifest entry ``name`` (its measured numerics and batching hints too),
    its file copied into ``folder``: checkpoints must lie in the manifest's folder."""
    entry = next(e for e in read_manifest(ROOT / "weights" / "manifest.json") if e.name == name)
    shutil.copyfile(entry.file, folder / entry.file.name)
    return {
        **entry.info,
        "name": entry.name,
        "task": entry.task,
        "file": entry.file.name,
        "sha256": entry.sha256,
    }


def served_default(task: str) -> str:
    """What the endpoints of ``task`` serve without ``?model=``: the setting's override, else
    the committed manifest's default."""
    committed = default_models(read_manifest(ROOT / "weights" / "manifest.json"))
    return Settings().default_overrides().get(task) or committed[task]


def write_bench_manifest(folder: Path, classifier: Path | None = None) -> Path:
    """A classifier (the stand-in at ``classifier``, else the committed default of /classify)
    and the committed default detector, all in ``folder``."""
    if classifier is None:
        served = committed_copy(folder, served_default("classify"))
    else:
        served = {
            "name": BENCH_MODEL,
            "task": "classify",
            "file": str(classifier),
            "sha256": sha256_of(classifier),
            "architecture": "resnet18",
            "input_size": 224,
            # Measured here: 16 images per pass is the CPU's best (bfloat16; float32: 8).
            "batching": {"cpu": {"max_batch_size": 16}},
        }
    models = [served, committed_copy(folder, served_default("detect"))]
    path = folder / "manifest.json"
    path.write_text(json.dumps({"version": 2, "models": models}))
    return path


def ceilings(
    classifier_path: Path, photos: list[bytes], args: argparse.Namespace, served_dtype: str
) -> dict:
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
    for dtype_name in dict.fromkeys(("float32", served_dtype)):
        classifier = ImageClassifier.load(classifier_path, device, DTYPES[dtype_name])
        by_batch = {}
        for size in args.batch_sizes:

            def pipeline(size: int = size, classifier: ImageClassifier = classifier) -> None:
                inputs = [
                    classifier.preprocess(
                        decode_image(next_photo(), ImageLimits(), classifier.decode_side).image
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
    stand_in = args.model == "stand-in"
    result: dict = {"machine": machine()}
    with tempfile.TemporaryDirectory() as folder:
        if stand_in:
            classifier = write_bench_classifier(Path(folder))
            manifest = write_bench_manifest(Path(folder), classifier)
            name, result["model"] = BENCH_MODEL, "torchvision ResNet-18, 224x224, seeded weights"
        else:
            if args.model != served_default("classify"):
                raise SystemExit("--model takes stand-in or the default classifier of /classify")
            manifest = write_bench_manifest(Path(folder))
            name = result["model"] = args.model
            classifier = next(e.file for e in read_manifest(manifest) if e.name == name)
        ours_env = {
            "D2L_MANIFEST_PATH": str(manifest),
            "D2L_DEFAULT_CLASSIFY_MODEL": name,
            "D2L_DEVICE": args.device,
            **({"D2L_DTYPE": args.dtype} if args.dtype else {}),
        }
        shown = f"D2L_DTYPE={args.dtype}" if args.dtype else "defaults"
        print(f"d2l-serve ({shown}, dynamic batching):", flush=True)
        with running_server(env=ours_env) as base_url:
            served = httpx.get(f"{base_url}/models").json()["models"]
            model_info = next(m for m in served if m["name"] == name)
            served_dtype = result["dtype"] = model_info["dtype"]
            result["dtype_reason"] = model_info["dtype_reason"]
            print(f"  {name} served in {served_dtype}: {model_info['dtype_reason']}", flush=True)
            result["d2l_serve"] = {
                "classify": http_runs(base_url, "/classify", photos, args.levels, args.seconds),
                "detect": http_runs(base_url, "/detect", photos, args.levels, args.seconds),
            }
            peers_level = [args.peer_connections]
            result["d2l_serve"]["classify_at_peer_connections"] = http_runs(
                base_url, "/classify", photos, peers_level, args.seconds
            )[0]
        print("in-process ceilings (images/s):", flush=True)
        result["ceilings"] = ceilings(classifier, photos, args, served_dtype)
        print(json.dumps(result["ceilings"], indent=1), flush=True)
        if not args.skip_peers:
            peers = {
                "naive_fastapi": ["-m", "bench.peers.naive_fastapi"],
                "litserve": ["-m", "bench.peers.litserve_server"],
            }
            if served_dtype != "float32":
                peers[f"litserve_{served_dtype}"] = [
                    "-m", "bench.peers.litserve_server", "--dtype", served_dtype
                ]  # fmt: skip
            for peer, command in peers.items():
                print(f"{peer}:", flush=True)
                full = [*command, "--model", str(classifier), "--port", "{port}"]
                with running_server(command=full, ready_path="/health") as base_url:
                    result[peer] = http_runs(
                        base_url, "/classify", photos, peers_level, args.seconds
                    )[0]
            ours = result["d2l_serve"]["classify_at_peer_connections"]["requests_per_second"]
            result["ratios"] = {
                f"d2l_serve_over_{peer}": round(ours / result[peer]["requests_per_second"], 2)
                for peer in peers
            }
            print(f"ratios at {args.peer_connections} connections: {result['ratios']}")
    if not args.skip_accuracy:
        result["accuracy"] = accuracy(
            list(dict.fromkeys(("float32", served_dtype))), torch.device(args.device)
        )
    write_result(result, args.output)
    print_table(result)
    return result


def print_table(result: dict) -> None:
    print("\n| server | endpoint | connections | req/s | p50 ms | p95 ms | p99 ms | errors |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for endpoint in ("classify", "detect"):
        for row in result["d2l_serve"][endpoint]:
            print(_row("d2l-serve", endpoint, row))
    for name in ("naive_fastapi", "litserve", "litserve_bfloat16", "litserve_float16"):
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
