"""GPU benchmark in one call of the device tool: the service on the GPU in half precision with
dynamic batching, over HTTP at high concurrency, next to the in-process ceilings.

- Model ceiling: ResNet-18 224x224 (channels-last, ``--dtype``) images/s at batch 1, 32, 256;
  TinySSD 256x256 likewise.
- Decode ceiling: Pillow decoding 640x480 JPEGs in one process per core; torchvision's
  ``decode_jpeg`` on the GPU (nvJPEG) in batches.
- HTTP: ``POST /classify`` and ``POST /detect`` at ``--levels`` connections (one asyncio httpx
  client per process, ``--client-processes`` of them, so the client is not the bottleneck).

The device machines have torch, torchvision, Pillow and httpx but not the web stack: pass
``--wheels DIR`` (``make gpu-wheels`` fills ``bench/wheels`` for Python 3.12) and they are
installed into a folder under ``--out`` first. Without a GPU the same script runs on the CPU
with small sizes (``--smoke``), which is how it is tested here.

    python -m bench.gpu --wheels bench/wheels --out "$OUT"
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import io
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEB_STACK = (
    "fastapi",
    "uvicorn",
    "pydantic",
    "pydantic_settings",
    "multipart",
    "prometheus_client",
)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--wheels", type=Path, help="wheels of the web stack to install first")
    parser.add_argument("--dtype", default="float16")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 64, 256])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--client-processes", type=int, default=4)
    parser.add_argument("--max-batch-size", type=int, default=128)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (the CPU check)")
    return parser


def install_web_stack(wheels: Path | None, out: Path) -> None:
    """Make the web stack importable here and in the server process."""
    missing = [name for name in WEB_STACK if importlib.util.find_spec(name) is None]
    if not missing:
        return
    if wheels is None:
        raise SystemExit(f"missing {', '.join(missing)}: pass --wheels (make gpu-wheels)")
    target = out / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--find-links",
         str(wheels), "--target", str(target), "fastapi", "uvicorn", "pydantic-settings",
         "python-multipart", "prometheus-client"],
        check=True,
    )  # fmt: skip
    sys.path.insert(0, str(target))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(target), os.environ.get("PYTHONPATH")])
    )


def photos(count: int) -> list[bytes]:
    """640x480 JPEGs: the real photos when the data is there, else a synthetic pattern with
    the same size and entropy class (photos decode at the same speed)."""
    from bench.classify import DATA, photos_640x480  # noqa: PLC0415 - after the web stack

    if (DATA / "val").is_dir():
        return photos_640x480(count)
    import torch  # noqa: PLC0415
    from PIL import Image  # noqa: PLC0415

    files = []
    generator = torch.Generator().manual_seed(0)
    for _ in range(count):
        base = torch.rand(3, 30, 40, generator=generator)
        pixels = torch.nn.functional.interpolate(base[None], size=(480, 640), mode="bicubic")[0]
        noise = torch.rand(3, 480, 640, generator=generator) * 0.1
        array = ((pixels + noise).clamp(0, 1) * 255).byte().permute(1, 2, 0).numpy()
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="JPEG", quality=90)
        files.append(buffer.getvalue())
    return files


def model_ceilings(device, dtype, batch_sizes: list[int], seconds: float) -> dict:
    import torch  # noqa: PLC0415

    from models.vision.classifier import build_resnet18  # noqa: PLC0415
    from models.vision.detection.ssd import TinySSD  # noqa: PLC0415

    def rate(model, side: int, batch: int) -> float:
        x = torch.rand(batch, 3, side, side, device=device).to(dtype)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            for _ in range(3):
                model(x)
            synchronize(device)
            started, done = time.perf_counter(), 0
            while time.perf_counter() - started < seconds:
                model(x)
                done += batch
            synchronize(device)
        return round(done / (time.perf_counter() - started), 1)

    resnet = build_resnet18(1000).to(device, dtype, memory_format=torch.channels_last).eval()
    ssd = TinySSD(1, 256).to(device, dtype, memory_format=torch.channels_last).eval()
    return {
        "resnet18_224": {b: rate(resnet, 224, b) for b in batch_sizes},
        "tinyssd_256": {b: rate(ssd, 256, b) for b in batch_sizes},
    }


def synchronize(device) -> None:
    import torch  # noqa: PLC0415

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _pillow_decode(data: bytes) -> None:
    from PIL import Image  # noqa: PLC0415

    Image.open(io.BytesIO(data)).convert("RGB")


def decode_ceilings(files: list[bytes], device, seconds: float) -> dict:
    import torch  # noqa: PLC0415
    from torchvision.io import decode_jpeg  # noqa: PLC0415

    started, done = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        _pillow_decode(files[done % len(files)])
        done += 1
    one_core = done / (time.perf_counter() - started)
    cores = os.cpu_count() or 1
    with multiprocessing.get_context("spawn").Pool(cores) as pool:
        pool.map(_pillow_decode, files)  # start the workers
        work = files * max(1, int(one_core * seconds * cores / len(files)))
        started = time.perf_counter()
        pool.map(_pillow_decode, work, chunksize=8)
        all_cores = len(work) / (time.perf_counter() - started)
    result = {
        "pillow_one_core": round(one_core, 1),
        "pillow_ms_per_image": round(1000 / one_core, 2),
        f"pillow_{cores}_processes": round(all_cores, 1),
    }
    if device.type == "cuda":
        tensors = [torch.frombuffer(bytearray(f), dtype=torch.uint8) for f in files]
        decode_jpeg(tensors, device=device)
        synchronize(device)
        started, done = time.perf_counter(), 0
        while time.perf_counter() - started < seconds:
            decode_jpeg(tensors, device=device)
            done += len(tensors)
        synchronize(device)
        result["nvjpeg_batched"] = round(done / (time.perf_counter() - started), 1)
    return result


def _client_process(base_url: str, path: str, files: list[bytes], seconds: float, level: int):
    from bench.server import load_for  # noqa: PLC0415

    async def send(client, index):
        upload = {"file": (f"{index}.jpg", files[index % len(files)], "image/jpeg")}
        return await client.post(path, files=upload)

    return asyncio.run(load_for(base_url, send, seconds, level, warm_up=2))


def http_level(base_url: str, path: str, files: list[bytes], seconds: float, level: int,
               processes: int) -> dict:  # fmt: skip
    """``level`` connections spread over ``processes`` client processes; their figures merged."""
    processes = max(1, min(processes, level))
    shares = [level // processes + (i < level % processes) for i in range(processes)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        rows = pool.starmap(
            _client_process, [(base_url, path, files, seconds, share) for share in shares]
        )
    requests = sum(r["requests"] for r in rows)
    return {
        "concurrency": level,
        "requests": requests,
        "requests_per_second": round(sum(r["requests_per_second"] for r in rows), 1),
        # Percentiles of the busiest client process: close to the whole for equal shares.
        "p50_ms": max(r["p50_ms"] or 0 for r in rows),
        "p99_ms": max(r["p99_ms"] or 0 for r in rows),
        "errors": sum(r["errors"] for r in rows),
    }


def main(args: argparse.Namespace) -> dict:
    args.out.mkdir(parents=True, exist_ok=True)
    install_web_stack(args.wheels, args.out)
    import torch  # noqa: PLC0415

    from bench.server import running_server  # noqa: PLC0415
    from bench.serving import write_bench_classifier, write_bench_manifest  # noqa: PLC0415
    from models.device import DTYPES  # noqa: PLC0415

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype_name = args.dtype if device.type == "cuda" else "float32"
    seconds = 1.0 if args.smoke else args.seconds
    batch_sizes = [1, 4] if args.smoke else [1, 32, 256]
    levels = [1, 4] if args.smoke else args.levels
    files = photos(8 if args.smoke else 64)
    result: dict = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "cpu_count": os.cpu_count(),
        "dtype": dtype_name,
        "torch": torch.__version__,
    }
    print(f"device {result['device']}, {dtype_name}", flush=True)
    result["model_ceiling"] = model_ceilings(device, DTYPES[dtype_name], batch_sizes, seconds)
    print("model ceiling (images/s):", json.dumps(result["model_ceiling"]), flush=True)
    result["decode_ceiling"] = decode_ceilings(files, device, seconds)
    print("decode ceiling (images/s):", json.dumps(result["decode_ceiling"]), flush=True)
    with tempfile.TemporaryDirectory() as folder:
        classifier = write_bench_classifier(Path(folder))
        manifest = write_bench_manifest(Path(folder), classifier)
        env = {
            "D2L_MANIFEST_PATH": str(manifest),
            "D2L_DEFAULT_CLASSIFY_MODEL": "resnet18-224",
            "D2L_DEVICE": device.type,
            "D2L_DTYPE": dtype_name,
            "D2L_MAX_BATCH_SIZE": str(args.max_batch_size),
            "D2L_MAX_QUEUE": "4096",
        }
        with running_server(env=env, timeout=300) as base_url:
            for path in ("/classify", "/detect"):
                rows = []
                for level in levels:
                    row = http_level(base_url, path, files, seconds, level, args.client_processes)
                    print(f"  {path} {level} connections: {row}", flush=True)
                    rows.append(row)
                result[path.strip("/")] = rows
    (args.out / "gpu.json").write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    return result


def print_table(result: dict) -> None:
    print(f"\n{result['device']}, {result['dtype']}, {result['cpu_count']} cores")
    print("| endpoint | connections | req/s | p50 ms | p99 ms | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for path in ("classify", "detect"):
        for row in result[path]:
            print(
                f"| /{path} | {row['concurrency']} | {row['requests_per_second']} | "
                f"{row['p50_ms']} | {row['p99_ms']} | {row['errors']} |"
            )
    for name, rates in result["model_ceiling"].items():
        print(f"model ceiling {name}: " + ", ".join(f"batch {b}: {r}/s" for b, r in rates.items()))
    print("decode ceiling: " + ", ".join(f"{k}: {v}" for k, v in result["decode_ceiling"].items()))


if __name__ == "__main__":
    main(get_args_parser().parse_args())
