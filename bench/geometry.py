"""Geometry benchmark: each op in process vs the same op through the HTTP API.

NMS over 1k, 5k and 15k boxes (the cap) and IoU of 2k x 2k boxes. The op is timed on float64 tensors
(what the API computes in); the HTTP round trip is timed from an httpx client against a real
uvicorn server started here, including JSON encoding and decoding on both sides. Prints a
table and writes JSON.

    python -m bench.geometry [--repeats 5] [--output bench/results/geometry.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import httpx
import torch

from app.schemas.geometry.limits import MAX_NMS_BOXES
from bench.server import ROOT, machine, median_ms, running_server, write_result
from models import ops


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case (median)")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "geometry.json")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def random_boxes(count: int, generator: torch.Generator) -> torch.Tensor:
    """Boxes of 10 to 100 pixels in a 1000x1000 image: dense enough that NMS suppresses."""
    corner = torch.rand(count, 2, generator=generator, dtype=torch.float64) * 900
    size = 10 + torch.rand(count, 2, generator=generator, dtype=torch.float64) * 90
    return torch.cat((corner, corner + size), dim=1)


def main(args: argparse.Namespace) -> dict:
    generator = torch.Generator().manual_seed(args.seed)
    cases = []
    for count in (1_000, 5_000, MAX_NMS_BOXES):  # the largest the service accepts
        boxes = random_boxes(count, generator)
        scores = torch.rand(count, generator=generator, dtype=torch.float64)
        body = {"boxes": boxes.tolist(), "scores": scores.tolist(), "iou_threshold": 0.5}
        cases.append(
            (
                f"nms {count:,} boxes",
                "/geometry/nms",
                body,
                lambda b=boxes, s=scores: ops.nms(b, s, 0.5),
            )
        )
    first, second = random_boxes(2_000, generator), random_boxes(2_000, generator)
    body = {"boxes1": first.tolist(), "boxes2": second.tolist()}
    cases.append(("iou 2,000 x 2,000", "/geometry/iou", body, lambda: ops.box_iou(first, second)))

    rows = []
    with running_server() as base_url, httpx.Client(base_url=base_url, timeout=120) as client:
        for name, path, payload, op in cases:
            encoded = json.dumps(payload).encode()

            def round_trip(path=path, encoded=encoded):
                response = client.post(
                    path, content=encoded, headers={"content-type": "application/json"}
                )
                response.raise_for_status()
                return response.json()

            op_ms = median_ms(op, args.repeats)
            http_ms = median_ms(round_trip, args.repeats)
            rows.append(
                {
                    "case": name,
                    "op_ms": round(op_ms, 3),
                    "http_ms": round(http_ms, 2),
                    "http_over_op": round(http_ms / op_ms, 1),
                    "request_bytes": len(encoded),
                }
            )

    result = {
        "benchmark": "geometry",
        "machine": machine(),
        "repeats": args.repeats,
        "rows": rows,
    }
    print(f"{'case':<22}{'op (ms)':>10}{'HTTP (ms)':>12}{'HTTP / op':>11}{'request':>12}")
    for row in rows:
        print(
            f"{row['case']:<22}{row['op_ms']:>10.2f}{row['http_ms']:>12.1f}"
            f"{row['http_over_op']:>10.1f}x{row['request_bytes'] / 1e6:>10.2f} MB"
        )
    write_result(result, args.output)
    return result


if __name__ == "__main__":
    main(get_args_parser().parse_args())
