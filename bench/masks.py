"""What masks cost: ``POST /detect`` on a 1,876 x 1,279 photo (sysu-logo's ``3.jpg``, a seal a
fifth as wide as the photo, found from score 0.5: the served 0.97 misses this one) from the Mask
R-CNN with polygons, with RLE and with no masks, and from the Faster R-CNN it was built on,
against one ``python -m app.server`` started here with `make run`'s defaults, one request at a
time, all at ``--score-threshold``; the answer's size too.

    python -m bench.masks [--requests 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

import httpx
from PIL import Image

from bench.server import ROOT, load_test, machine, running_server, write_result

PHOTO = Path(os.environ.get("D2L_DATA_DIR", ROOT.parent / "shared" / "data")) / "sysu-logo"
CASES = (
    ("maskrcnn-logo", "polygons"),
    ("maskrcnn-logo", "rle"),
    ("maskrcnn-logo", "none"),
    ("fasterrcnn-logo", None),
)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30, help="requests per case")
    parser.add_argument("--photo", type=Path, default=PHOTO / "unlabelled" / "3.jpg")
    parser.add_argument("--score-threshold", type=float, default=0.5)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "masks.json")
    return parser


def main(args: argparse.Namespace) -> dict:
    upload = args.photo.read_bytes()
    with Image.open(args.photo) as opened:
        size = opened.size
    rows = []
    with running_server() as base_url:
        for model, mask_format in CASES:
            params = {"model": model, "score_threshold": args.score_threshold}
            params |= {"mask_format": mask_format} if mask_format else {}

            async def send(client: httpx.AsyncClient, index: int, params=params) -> httpx.Response:
                files = {"file": ("photo.jpg", upload, "image/jpeg")}
                return await client.post("/detect", files=files, params=params)

            answer = httpx.post(
                f"{base_url}/detect",
                files={"file": ("photo.jpg", upload, "image/jpeg")},
                params=params,
                timeout=60,
            ).raise_for_status()
            measured = asyncio.run(load_test(base_url, send, args.requests, 1))
            detections = answer.json()["detections"]
            rows.append(
                {
                    "model": model,
                    "mask_format": mask_format,
                    "detections": len(detections),
                    "with_masks": sum("mask" in d for d in detections),
                    "answer_bytes": len(answer.content),
                    **measured,
                }
            )
            print(rows[-1])
    result = {
        "benchmark": "masks",
        "photo": f"{args.photo.name}, {size[0]}x{size[1]}",
        "server": "python -m app.server with make run's defaults",
        "score_threshold": args.score_threshold,
        "machine": machine(),
        "rows": rows,
    }
    write_result(result, args.output)
    return result


if __name__ == "__main__":
    main(get_args_parser().parse_args())
