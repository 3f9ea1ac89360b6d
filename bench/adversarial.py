"""The adversarial corpus (``bench.corpus``) against the service as ``make run`` starts it, with
good requests interleaved so that they share batches with the bad ones: what every request is
answered, and the server's memory before, at its peak and after
(``bench/results/adversarial.json``).

    python -m bench.adversarial [--rounds 2] [--concurrency 16]
    git worktree add /tmp/before 625477f && python -m bench.adversarial --checkout /tmp/before \
        --output bench/results/adversarial-before.json    # the version before issue 29

Every image endpoint gets every item of the corpus; between two items a good photo goes to the
same endpoint, ``--concurrency`` requests in flight at once.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import httpx

from bench.corpus import Upload, corpus, good_upload
from bench.server import ROOT, server_process, write_result

ENDPOINTS = (
    "/classify",
    "/detect",
    "/detect?model=fasterrcnn-logo",
    "/detect/render?model=fasterrcnn-logo",
)


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` (Linux /proc), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class PeakMemory:
    """The highest resident memory of a process, sampled every 20 ms in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = rss_mb(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mb(self.pid))


async def send_corpus(
    base_url: str,
    items: Sequence[Upload],
    endpoints: Sequence[str] = ENDPOINTS,
    concurrency: int = 16,
) -> list[dict]:
    """Each item to each endpoint, a good upload after each: one record per request
    (``endpoint``, ``name``, ``expect``: ``good`` for the good ones, ``status``, ``detail``)."""
    plan: list[tuple[str, str, str, bytes]] = []
    for endpoint in endpoints:
        for index, item in enumerate(items):
            plan.append((endpoint, item.name, item.expect, item.data))
            plan.append((endpoint, f"good-{index}.jpg", "good", good_upload(index)))
    records: list[dict] = []
    queue = list(reversed(plan))
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=600, limits=limits) as client:

        async def worker() -> None:
            while queue:
                endpoint, name, expect, data = queue.pop()
                try:
                    answer = await client.post(endpoint, files={"file": (name, data)})
                    status, detail = answer.status_code, _detail(answer)
                except httpx.HTTPError as error:  # a dropped connection is a failure too
                    status, detail = 0, type(error).__name__
                records.append(
                    {"endpoint": endpoint, "name": name, "expect": expect, "status": status}
                    | ({"detail": detail} if detail else {})
                )

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return records


def metric(base_url: str, name: str) -> float:
    """The value of an unlabelled metric on ``/metrics``."""
    for line in httpx.get(f"{base_url}/metrics", timeout=60).text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise LookupError(f"no metric {name} on {base_url}/metrics")


def settled_rss_mb(base_url: str, pid: int) -> float:
    """The server's memory once it has fallen idle and released what it freed (it says so on
    /metrics); waits for that as long as it takes, up to 10 minutes. A server without that
    metric (an older checkout) is given 3 s of idleness."""
    deadline = time.monotonic() + 600
    try:
        metric(base_url, "d2l_memory_settled")
    except LookupError:
        time.sleep(3)
        return rss_mb(pid)
    while metric(base_url, "d2l_memory_settled") != 1:
        if time.monotonic() > deadline:
            raise RuntimeError("the server never settled")
        time.sleep(0.05)
    return rss_mb(pid)


def _detail(answer: httpx.Response) -> str | None:
    if answer.is_success or not answer.headers.get("content-type", "").startswith(
        "application/json"
    ):
        return None
    return str(answer.json().get("detail"))[:200]


def wrong_answers(records: Sequence[dict]) -> list[dict]:
    """Records that break the property: a 5xx or a dropped connection anywhere, a good request
    or a valid image not answered 200, a file that must be refused answered 200."""
    wrong = []
    for record in records:
        status, expect = record["status"], record["expect"]
        answered = 200 <= status < 500
        should_succeed = expect in {"good", "ok"}
        if (
            not answered
            or (should_succeed and status != 200)
            or (expect == "refused" and status == 200)
        ):
            wrong.append(record)
    return wrong


def summary(records: Sequence[dict]) -> dict:
    by_kind = Counter(("good" if r["expect"] == "good" else "corpus", r["status"]) for r in records)
    return {
        "requests": len(records),
        "answers": {f"{kind} {status}": count for (kind, status), count in sorted(by_kind.items())},
    }


def _commit_of(checkout: Path) -> str:
    done = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=checkout, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="times the corpus is sent")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--output", type=Path, default=ROOT / "bench/results/adversarial.json")
    parser.add_argument(
        "--checkout",
        type=Path,
        default=ROOT,
        help="serve this checkout instead (git worktree add DIR COMMIT): the same corpus against "
        "an earlier version",
    )
    return parser


def main(args: argparse.Namespace) -> dict:
    items = corpus()
    env = {"PYTHONPATH": str(args.checkout.resolve())}
    with server_process(timeout=600, env=env, cwd=args.checkout) as (base_url, server):
        for endpoint in ENDPOINTS:  # each path run once, as any client's first requests would
            httpx.post(base_url + endpoint, files={"file": ("a.jpg", good_upload(0))}, timeout=600)
        start = settled_rss_mb(base_url, server.pid)
        rounds = []
        with PeakMemory(server.pid) as memory:
            for _ in range(args.rounds):
                began = time.perf_counter()
                records = asyncio.run(send_corpus(base_url, items, concurrency=args.concurrency))
                seconds = time.perf_counter() - began
                rounds.append(
                    {
                        **summary(records),
                        "seconds": round(seconds, 1),
                        "wrong": wrong_answers(records),
                        "rss_at_last_answer_mb": round(rss_mb(server.pid)),
                        "rss_settled_mb": round(settled_rss_mb(base_url, server.pid)),
                    }
                )
        result = {
            "setup": {
                "server": "python -m app.server at its defaults (make run), committed manifest",
                "checkout": "this one" if args.checkout == ROOT else _commit_of(args.checkout),
                "endpoints": list(ENDPOINTS),
                "corpus_items": len(items),
                "corpus_bytes": sum(len(item.data) for item in items),
                "concurrency": args.concurrency,
                "good_requests": "a photo-like JPEG after every corpus item, same endpoint",
            },
            "rss_mb": {
                "start": round(start),
                "peak": round(memory.peak),
                "settled": rounds[-1]["rss_settled_mb"],
            },
            "rounds": rounds,
        }
    write_result(result, args.output)
    return result


if __name__ == "__main__":
    main(get_args_parser().parse_args())
