"""Reliability benchmark: goodput under overload, and the worst-case cost of each request.

1. Overload: the service as ``make run`` starts it (``python -m app.server``, committed weights,
   default settings, info logs) takes ``POST /classify`` with a real 640x480 JPEG from 16
   connections, then from 200 and 400 that send again at once after a 503, then from 400 that
   wait the ``Retry-After`` first. For each: successful requests/s, answers by status, the share
   of 504s, p50/p99 of the successes, goodput against the 16-connection figure, and the cores the
   server and this load generator used.
2. Costs: the most expensive request the caps allow for each geometry endpoint (and uploads at
   the size limits), one at a time on the idle service: wall time and the server's CPU time
   (from /proc), which the README's limits table quotes.
3. Isolation: /classify latency from 4 connections alone, then while 4 worst-case NMS requests
   are sent at once.

    python -m bench.overload [--seconds 20] [--skip-costs] [--skip-overload]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from PIL import Image

from bench.classify import photos_640x480
from bench.loadgen import json_request, multipart_request, run_load
from bench.server import ROOT, cpu_seconds, machine, server_process, write_result


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="load per overload phase")
    parser.add_argument(
        "--connections",
        type=int,
        nargs="+",
        default=[16, 200, 400],
        help="the first is the baseline; the last also runs with polite clients",
    )
    parser.add_argument("--skip-overload", action="store_true")
    parser.add_argument("--skip-costs", action="store_true")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "overload.json")
    return parser


@dataclass(frozen=True)
class Server:
    base_url: str
    process: subprocess.Popen

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process)


def overload(server: Server, args: argparse.Namespace) -> list[dict]:
    photo = photos_640x480(1)[0]
    request = multipart_request(f"127.0.0.1:{server.port}", "/classify", "file", "a.jpg", photo)
    phases = [(count, False) for count in args.connections] + [(args.connections[-1], True)]
    rows = []
    for connections, polite in phases:
        asyncio.run(run_load(server.base_url, request, 8, 2))  # settle between phases
        server_cpu, client_cpu = server.cpu_seconds(), time.process_time()
        result = asyncio.run(run_load(server.base_url, request, connections, args.seconds, polite))
        row = {
            "clients": "wait Retry-After" if polite else "retry at once",
            **result.summary(),
            # Cores busy on average: the server's, and this load generator's own.
            "server_cores": round((server.cpu_seconds() - server_cpu) / result.seconds, 2),
            "client_cores": round((time.process_time() - client_cpu) / result.seconds, 2),
        }
        rows.append(row)
        print(json.dumps(row))
    baseline = rows[0]["ok_per_second"]
    for row in rows:
        row["goodput_vs_16"] = round(row["ok_per_second"] / baseline, 3) if baseline else None
    return rows


def random_boxes(count: int, generator: random.Random, scale: float = 1000) -> list:
    boxes = []
    for _ in range(count):
        x, y = generator.random() * scale, generator.random() * scale
        boxes.append([x, y, x + 1 + generator.random() * 50, y + 1 + generator.random() * 50])
    return boxes


def worst_cases() -> dict[str, tuple[str, dict]]:
    """The costliest request each endpoint's caps allow (random boxes: NMS suppresses little)."""
    from app.schemas.geometry import limits as caps
    from models.ops.layers import MAX_ROI_ALIGN_SAMPLES, MAX_ROI_POOL_CELLS

    generator = random.Random(0)
    unit = [[b / 1100 for b in box] for box in random_boxes(caps.MAX_BOXES, generator)]
    side = int(caps.MAX_TENSOR_ELEMENTS**0.5)
    features = [[[[generator.random() for _ in range(side)] for _ in range(side)]]]
    nms = caps.MAX_NMS_BOXES
    assign_gt = caps.MAX_GROUND_TRUTH
    assign_anchors = caps.MAX_ASSIGN_WORK // assign_gt**2
    rows = max(2, caps.MAX_PROBABILITIES // nms)
    pooled = min(caps.MAX_ROIS, caps.MAX_OUTPUT_ELEMENTS // (64 * 64))
    full_map = [[0, 0, 0, side - 1, side - 1]] * pooled
    # Regions as large as the cell cap allows (each bin adds a row and a column).
    pool_side = int((MAX_ROI_POOL_CELLS // pooled) ** 0.5) - 64 - 2
    pool_rois = [[0, 0, 0, pool_side, pool_side]] * pooled
    ratio = int((MAX_ROI_ALIGN_SAMPLES / (pooled * 64 * 64)) ** 0.5)
    # 64 x 128 x 128 inputs, a 64 x 4 x 16 x 16 kernel: 2^30 multiply-adds, the cap.
    conv_input = [[[generator.random() for _ in range(128)] for _ in range(128)]] * 64
    conv_kernel = [[[[0.01] * 16 for _ in range(16)] for _ in range(4)]] * 64
    return {
        "convert": (
            "/geometry/convert",
            {"boxes": random_boxes(caps.MAX_BOXES, generator), "in_fmt": "xywh", "out_fmt": "xyxy"},
        ),
        "iou": ("/geometry/iou", {"boxes1": unit[:2048], "boxes2": unit[2048:4096]}),
        "nms": (
            "/geometry/nms",
            {
                "boxes": random_boxes(nms, generator),
                "scores": [generator.random() for _ in range(nms)],
                "iou_threshold": 0.5,
            },
        ),
        "nms, a label per box": (
            "/geometry/nms",
            {
                "boxes": random_boxes(nms, generator),
                "scores": [generator.random() for _ in range(nms)],
                "labels": list(range(nms)),
                "iou_threshold": 0.5,
            },
        ),
        "anchors (listed)": (
            "/geometry/anchors",
            {"height": 100, "width": 333, "sizes": [0.75, 0.5, 0.25], "ratios": [1]},
        ),
        "anchors (pixels)": (
            "/geometry/anchors",
            {
                "height": 10_000,
                "width": 10_000,
                "sizes": [0.1] * 16,
                "ratios": [1.0] * 16,
                "pixels": [[i, i] for i in range(caps.MAX_PIXELS)],
            },
        ),
        "assign (1,000 boxes)": (
            "/geometry/assign",
            {
                "anchors": unit[:assign_anchors],
                "ground_truth": [[0, *box] for box in unit[-assign_gt:]],
            },
        ),
        "assign (100 boxes)": (
            "/geometry/assign",
            {
                "anchors": unit[: caps.MAX_ASSIGN_WORK // 100**2],
                "ground_truth": [[0, *box] for box in unit[-100:]],
            },
        ),
        "offsets/encode": ("/geometry/offsets/encode", {"anchors": unit, "boxes": unit[::-1]}),
        "offsets/decode": (
            "/geometry/offsets/decode",
            {"anchors": unit, "offsets": [[0.1, -0.1, 0.2, -0.2]] * caps.MAX_BOXES},
        ),
        "detect": (
            "/geometry/detect",
            {
                "cls_probs": [[1.0 / rows] * nms for _ in range(rows)],
                "offset_preds": [[0.0] * 4] * nms,
                "anchors": unit[:nms],
            },
        ),
        "roi-pool": (
            "/geometry/roi-pool",
            {"features": features, "rois": pool_rois, "output_size": [64, 64]},
        ),
        "roi-align": (
            "/geometry/roi-align",
            {
                "features": features,
                "rois": full_map,
                "output_size": [64, 64],
                "sampling_ratio": ratio,
            },
        ),
        "conv-transpose": (
            "/geometry/conv-transpose",
            {"input": conv_input, "kernel": conv_kernel},
        ),
    }


def costs(server: Server) -> list[dict]:
    rows = []
    with httpx.Client(base_url=server.base_url, timeout=600) as client:
        for name, (path, body) in worst_cases().items():
            content = json.dumps(body).encode()
            before, started = server.cpu_seconds(), time.perf_counter()
            response = client.post(
                path, content=content, headers={"Content-Type": "application/json"}
            )
            wall = time.perf_counter() - started
            cpu = server.cpu_seconds() - before
            row = {
                "request": name,
                "status": response.status_code,
                "body_mb": round(len(content) / 1e6, 1),
                "answer_mb": round(len(response.content) / 1e6, 1),
                "wall_s": round(wall, 2),
                "server_cpu_s": round(cpu, 2),
            }
            rows.append(row)
            print(json.dumps(row))
        big = big_image()
        for path in ("/classify", "/detect", "/detect?render=true"):
            before, started = server.cpu_seconds(), time.perf_counter()
            response = client.post(path, files={"file": ("big.jpg", big, "image/jpeg")})
            row = {
                "request": f"{path} 40 MP JPEG",
                "status": response.status_code,
                "body_mb": round(len(big) / 1e6, 1),
                "answer_mb": round(len(response.content) / 1e6, 1),
                "wall_s": round(time.perf_counter() - started, 2),
                "server_cpu_s": round(server.cpu_seconds() - before, 2),
            }
            rows.append(row)
            print(json.dumps(row))
    return rows


def big_image() -> bytes:
    """A photo scaled to just under the 40 MP limit, as a JPEG."""
    photo = Image.open(io.BytesIO(photos_640x480(1)[0]))
    buffer = io.BytesIO()
    photo.resize((7300, 5475)).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def isolation(server: Server, seconds: float) -> dict:
    photo = photos_640x480(1)[0]
    request = multipart_request(f"127.0.0.1:{server.port}", "/classify", "file", "a.jpg", photo)
    alone = asyncio.run(run_load(server.base_url, request, 4, seconds)).summary()
    path, body = worst_cases()["nms"]
    heavy = json_request(f"127.0.0.1:{server.port}", path, json.dumps(body).encode())

    async def together() -> tuple[dict, dict]:
        classify = asyncio.create_task(run_load(server.base_url, request, 4, seconds))
        nms = asyncio.create_task(run_load(server.base_url, heavy, 4, seconds))
        return (await classify).summary(), (await nms).summary()

    during, nms = asyncio.run(together())
    row = {"classify_alone": alone, "classify_during_4_nms": during, "nms": nms}
    print(json.dumps(row))
    return row


def main(args: argparse.Namespace) -> dict:
    result: dict = {"machine": machine()}
    # As `make run` starts it: default settings, a log line per request included.
    with server_process(timeout=600, env={"D2L_LOG_LEVEL": "info"}) as (base_url, process):
        server = Server(base_url, process)
        if not args.skip_costs:
            result["costs"] = costs(server)
            result["isolation"] = isolation(server, min(args.seconds, 15))
        if not args.skip_overload:
            result["overload"] = overload(server, args)
    print_tables(result)
    write_result(result, args.output)
    return result


def print_tables(result: dict) -> None:
    if "costs" in result:
        print("\n| request | status | body MB | answer MB | wall s | server CPU s |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for row in result["costs"]:
            print(
                f"| {row['request']} | {row['status']} | {row['body_mb']} | {row['answer_mb']} "
                f"| {row['wall_s']} | {row['server_cpu_s']} |"
            )
    if "overload" in result:
        print("\n| clients | connections | ok/s | vs first | 503 | 504 | p50 ms | p99 ms |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for row in result["overload"]:
            statuses = row["statuses"]
            print(
                f"| {row['clients']} | {row['connections']} | {row['ok_per_second']} "
                f"| {row['goodput_vs_16']} | {statuses.get('503', 0)} | {statuses.get('504', 0)} "
                f"| {row['p50_ms']} | {row['p99_ms']} |"
            )


if __name__ == "__main__":
    main(get_args_parser().parse_args())
