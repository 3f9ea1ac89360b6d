"""``/classify`` while a training job runs, and the d2l fine-tuning recipe through the API.

One server as `make run` starts it (with an admin key and a fresh state folder): ``POST
/classify`` throughput at a fixed concurrency while idle; then the ants-and-bees set uploaded as
a zip and ``resnet18-hymenoptera``'s recipe started as a job (its defaults: fine-tuned from
``resnet18-cifar10``, new head at 10x, 64 px, 20 epochs, cosine, batch 32, lr 0.01), the same
throughput measured while it trains (on the CPU, at nice 10 with half the cores), and the job's
held-out accuracy next to the committed model's (the issue: within 0.02).

    python -m bench.serving_while_training
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import tempfile
import time
import zipfile
from pathlib import Path

import httpx

from bench.server import ROOT, load_for, machine, running_server, write_result
from models.manifest import read_manifest

DATA = Path(os.environ.get("D2L_DATA_DIR", ROOT.parent / "shared" / "data")) / "hymenoptera"
ADMIN = {"X-Admin-Key": "bench-admin-key"}
PHOTO = DATA / "val" / "bees" / "1032546534_06907fe3b3.jpg"


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="each throughput window")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--output", type=Path, default=ROOT / "bench" / "results" / "serving-while-training.json"
    )
    return parser


def hymenoptera_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as bundle:
        for path in sorted(DATA.rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(DATA).as_posix())
    return buffer.getvalue()


async def classify_load(base_url: str, seconds: float, concurrency: int) -> dict:
    photo = PHOTO.read_bytes()

    async def send(client: httpx.AsyncClient, index: int) -> httpx.Response:
        files = {"file": ("bee.jpg", photo, "image/jpeg")}
        return await client.post("/classify", files=files, params={"top_k": 1})

    return await load_for(base_url, send, seconds, concurrency)


def main(args: argparse.Namespace) -> dict:
    committed = next(e for e in read_manifest(ROOT / "weights" / "manifest.json")
                     if e.name == "resnet18-hymenoptera")  # fmt: skip
    with tempfile.TemporaryDirectory() as state:
        env = {"D2L_ADMIN_KEY": ADMIN["X-Admin-Key"], "D2L_STATE_DIR": state}
        with running_server(timeout=600, env=env) as base_url:
            idle = asyncio.run(classify_load(base_url, args.seconds, args.concurrency))
            client = httpx.Client(base_url=base_url, headers=ADMIN, timeout=600)
            dataset = client.post(
                "/datasets", params={"task": "classify", "name": "hymenoptera"},
                files={"file": ("hymenoptera.zip", hymenoptera_zip(), "application/zip")},
            ).raise_for_status().json()  # fmt: skip
            job = (
                client.post(
                    "/training-jobs", json={"dataset": dataset["id"], "model_name": "ants-bees"}
                )
                .raise_for_status()
                .json()
            )
            while client.get(f"/training-jobs/{job['id']}").json()["state"] == "queued":
                time.sleep(0.5)
            # the first epoch under way: the data are loaded and the job computes
            while client.get(f"/training-jobs/{job['id']}").json()["progress"].get("epoch") is None:
                time.sleep(0.5)
            training = asyncio.run(classify_load(base_url, args.seconds, args.concurrency))
            training_progress = client.get(f"/training-jobs/{job['id']}").json()["progress"]
            started = time.perf_counter()
            while (done := client.get(f"/training-jobs/{job['id']}").json())["state"] not in {
                "succeeded", "failed", "cancelled"
            }:  # fmt: skip
                time.sleep(2)
            waited = time.perf_counter() - started
    share = training["requests_per_second"] / idle["requests_per_second"]
    reference = committed.card.metrics["val_accuracy"]
    result = {
        "benchmark": "serving-while-training",
        "machine": machine(),
        "concurrency": args.concurrency,
        "classify_idle": idle,
        "classify_while_training": training | {"job_progress_when_measured": training_progress},
        "share_of_idle_throughput": round(share, 3),
        "job": {
            "state": done["state"],
            "error": done["error"],
            "options": done["options"],
            "base_model": done["base_model"],
            "seconds": round(
                _seconds(done["started"], done["finished"]) if done["finished"] else waited, 1
            ),
            "heldout_accuracy": (done["evaluation"] or {}).get("accuracy"),
            "resnet18_hymenoptera_val_accuracy": round(reference, 4),
        },
    }
    print(json.dumps(result, indent=2))
    write_result(result, args.output)
    return result


def _seconds(started: str, finished: str) -> float:
    from datetime import datetime  # noqa: PLC0415

    return (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()


if __name__ == "__main__":
    main(get_args_parser().parse_args())
