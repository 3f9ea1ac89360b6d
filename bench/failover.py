"""Two d2l-serve replicas behind HAProxy on loopback; one is killed (SIGKILL) under load.

HAProxy health-checks ``/health/ready``, and retries a request whose server died before
answering (``retry-on conn-failure empty-response``) on the other replica: POST /detect is a
pure function of its body, so a retry is safe. The figures: requests sent, answered 200, failed
(what a client would have to retry itself), retried by HAProxy, and how the load split.

``python -m bench.failover`` (haproxy from Debian's packages) writes bench/results/failover.json;
tests/test_failover.py runs the same scenario, smaller.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import Counter
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from bench.server import ROOT, provenance, server_process, wait_while_running

HAPROXY_CONFIG = """\
global
    maxconn 2000
    # A request is retried only while HAProxy still holds it whole: room for a photo.
    tune.bufsize 1048576
defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response
    option http-buffer-request
frontend api
    bind fd@{api_fd}
    default_backend replicas
frontend stats
    bind fd@{stats_fd}
    stats enable
    stats uri /stats
backend replicas
    balance leastconn
    option httpchk GET /health/ready
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2
{servers}
"""


def detect_manifest(folder: Path) -> Path:
    """A manifest serving only ``tinyssd-logo`` from the committed weights (a lighter replica)."""
    weights = ROOT / "weights"
    entries = json.loads((weights / "manifest.json").read_text())["models"]
    (entry,) = [entry for entry in entries if entry["name"] == "tinyssd-logo"]
    entry = {**entry, "file": os.path.relpath(weights / entry["file"], folder)}
    path = folder / "manifest.json"
    path.write_text(json.dumps({"version": 2, "models": [entry]}))
    return path


def _stats(stats_url: str) -> dict[str, dict[str, str]]:
    text = httpx.get(f"{stats_url};csv", timeout=10).text.lstrip("# ")
    rows = csv.DictReader(io.StringIO(text))
    return {row["svname"]: row for row in rows if row["pxname"] == "replicas"}


@contextmanager
def balanced_replicas(replicas: int = 2):
    """``replicas`` service processes behind HAProxy; yields (url, stats url, processes)."""
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(haproxy).exists():
        raise FileNotFoundError("haproxy is not installed: apt-get install haproxy")
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        env = {
            "D2L_MANIFEST_PATH": str(detect_manifest(folder)),
            "D2L_WEIGHTS_ROOT": str(ROOT / "weights"),
            "D2L_DECODE_WORKERS": "1",
        }
        servers = [stack.enter_context(server_process(600, env=env)) for _ in range(replicas)]
        # HAProxy listens on sockets bound here to ports the system picked, handed over open.
        api, stats = (stack.enter_context(_listening()) for _ in range(2))
        lines = [
            f"    server r{i} {url.removeprefix('http://')} check"
            for i, (url, _) in enumerate(servers)
        ]
        config = folder / "haproxy.cfg"
        config.write_text(
            HAPROXY_CONFIG.format(
                api_fd=api.fileno(), stats_fd=stats.fileno(), servers="\n".join(lines)
            )
        )
        balancer = subprocess.Popen(
            [haproxy, "-f", str(config), "-db"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(api.fileno(), stats.fileno()),
        )
        stack.callback(balancer.wait)
        stack.callback(balancer.terminate)
        url = f"http://127.0.0.1:{api.getsockname()[1]}"
        stats_url = f"http://127.0.0.1:{stats.getsockname()[1]}/stats"

        def all_up() -> bool:
            try:
                return all(_stats(stats_url)[f"r{i}"]["status"] == "UP" for i in range(replicas))
            except KeyError:
                return False

        wait_while_running(balancer, all_up, "HAProxy's checks saw every replica up")
        yield url, stats_url, [process for _, process in servers]


@contextmanager
def _listening():
    """A loopback TCP socket listening on a port the system picked."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener


DEADLINE_S = 600  # each phase; only a broken set-up takes this long


def _before(deadline: float, what: str, load: asyncio.Task) -> None:
    """Raise if the load stopped (it failed) or ``deadline`` passed before ``what``."""
    if load.done():
        load.result()  # its error
        raise RuntimeError(f"the load stopped before {what}")
    if time.monotonic() > deadline:
        raise RuntimeError(f"{what} did not happen within {DEADLINE_S} s")


async def _load(url: str, photo: bytes, clients: int, stop: asyncio.Event, outcomes: Counter):
    async def client(http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            try:
                response = await http.post(f"{url}/detect", files={"file": ("p.jpg", photo)})
                outcomes[str(response.status_code)] += 1
            except httpx.TransportError as error:
                outcomes[type(error).__name__] += 1

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))


async def failover(photo: bytes, clients: int = 8, before: int = 40, after: int = 40) -> dict:
    """Load both replicas; once each answered ``before`` requests kill r0 (SIGKILL); go on until
    HAProxy marks it down and r1 answered ``after`` more; the outcome of every request."""
    with balanced_replicas(2) as (url, stats_url, processes):
        outcomes: Counter = Counter()
        stop = asyncio.Event()
        load = asyncio.create_task(_load(url, photo, clients, stop, outcomes))

        async def served() -> dict[str, int]:
            stats = await asyncio.to_thread(_stats, stats_url)
            return {name: int(stats[name]["stot"]) for name in ("r0", "r1")}

        deadline = time.monotonic() + DEADLINE_S
        while min((await served()).values()) < before:
            _before(deadline, f"each replica answered {before} requests", load)
            await asyncio.sleep(0.05)
        processes[0].send_signal(signal.SIGKILL)
        at_kill = await served()
        deadline = time.monotonic() + DEADLINE_S
        while True:
            stats = await asyncio.to_thread(_stats, stats_url)
            down = stats["r0"]["status"].startswith("DOWN")
            if down and int(stats["r1"]["stot"]) - at_kill["r1"] >= after:
                break
            _before(deadline, f"r0 was down and r1 answered {after} more", load)
            await asyncio.sleep(0.05)
        stop.set()
        await load
        backend = (await asyncio.to_thread(_stats, stats_url))["BACKEND"]
        final = await served()
    sent = sum(outcomes.values())
    return {
        "clients": clients,
        "requests_sent": sent,
        "answered_200": outcomes.get("200", 0),
        "failed": sent - outcomes.get("200", 0),
        "outcomes": dict(outcomes),
        "retried_by_haproxy": int(backend["wretr"] or 0),
        "redispatched_by_haproxy": int(backend["wredis"] or 0),
        "served_by_killed_replica": final["r0"],
        "served_by_survivor": final["r1"],
        "served_by_survivor_after_kill": final["r1"] - at_kill["r1"],
    }


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--before", type=int, default=200, help="requests per replica first")
    parser.add_argument("--after", type=int, default=400, help="survivor's requests after")
    parser.add_argument(
        "--photo", type=Path, default=ROOT.parent / "shared/data/sysu-logo/unlabelled/1.jpg"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/failover.json")
    return parser


def main(args: argparse.Namespace) -> None:
    result = asyncio.run(failover(args.photo.read_bytes(), args.clients, args.before, args.after))
    result = {"provenance": provenance(), **result}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(get_args_parser().parse_args())
