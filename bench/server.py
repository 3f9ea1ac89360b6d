"""Shared by the benchmarks: a real uvicorn server on a free loopback port, and timing helpers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx
import torch

ROOT = Path(__file__).resolve().parent.parent


def median_ms(run: Callable[[], object], repeats: int) -> float:
    run()  # warm-up: first calls allocate and load kernels
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def images_per_second(run, images: int, seconds: float) -> float:
    """Run for at least ``seconds`` after a warm-up run; images processed per second."""
    run()
    started, done = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        run()
        done += images
    return done / (time.perf_counter() - started)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def machine() -> dict:
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def provenance() -> dict:
    """Where a result comes from: the command, the commit (and whether the tree had
    uncommitted changes), the time and the machine."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
            )
        except (OSError, subprocess.CalledProcessError):
            return ""
        return done.stdout.strip()

    return {
        "command": " ".join(["python", "-m", _module(), *sys.argv[1:]]),
        "commit": git("rev-parse", "HEAD"),
        # The results folder itself does not count: a rerun rewrites it.
        "uncommitted_changes": bool(
            git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results")
        ),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine(),
    }


def _module() -> str:
    """The module run as ``python -m``."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    return spec.name if spec is not None else Path(sys.argv[0]).name


def write_result(result: dict, path: Path) -> None:
    """``result`` with its provenance, as JSON; the small files in bench/results/ are
    committed, so each README figure names the run it comes from."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"provenance": provenance(), **result}
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {path}")


def free_port() -> int:
    """A port free now, for peers that cannot be told to pick one (another program may take it
    before they bind: this service's own servers use :func:`start_app` instead)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_while_running(
    process: subprocess.Popen, condition: Callable[[], bool], what: str, timeout: float = 600
) -> None:
    """Poll ``condition`` (transport errors count as false) until it holds; raise at once if
    ``process`` exits meanwhile, and after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.TransportError):
            if condition():
                return
        if process.poll() is not None:
            raise RuntimeError(f"the process exited with {process.returncode} before {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting until {what}")
        time.sleep(0.05)


def start_app(
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
    output: int | IO[str] = subprocess.DEVNULL,
    timeout: float = 600,
) -> tuple[subprocess.Popen, int]:
    """``python -m app.server`` as `make run` starts it, on a port the system picks
    (``--port 0 --port-file``): returns the process and its port once it listens; raises at
    once if it exits first. ``D2L_LOG_LEVEL`` is ``warning`` unless ``env`` says otherwise."""
    port_file = Path(tempfile.mkdtemp(prefix="d2l-port-")) / "port"
    command = ["-m", "app.server", "--host", "127.0.0.1", "--port", "0"]
    process = subprocess.Popen(
        [sys.executable, *command, "--port-file", str(port_file)],
        cwd=cwd,
        env={**os.environ, "D2L_LOG_LEVEL": "warning", **(env or {})},
        stdout=output,
        stderr=subprocess.STDOUT if output is not subprocess.DEVNULL else subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own process group: stopped with every child it starts
    )
    try:
        wait_while_running(process, port_file.exists, "it listened", timeout)
    except BaseException:
        stop_group(process)
        raise
    port = int(port_file.read_text())
    shutil.rmtree(port_file.parent, ignore_errors=True)
    return process, port


@contextmanager
def running_server(
    timeout: float = 120.0,
    command: list[str] | None = None,
    env: dict[str, str] | None = None,
    ready_path: str = "/health/ready",
) -> Iterator[str]:
    """Start ``python -m app.server`` as `make run` does (or ``command`` with ``{port}`` in it);
    yield its base URL once ``ready_path`` answers 200."""
    with server_process(timeout, command, env, ready_path) as (base_url, _):
        yield base_url


@contextmanager
def server_process(
    timeout: float = 120.0,
    command: list[str] | None = None,
    env: dict[str, str] | None = None,
    ready_path: str = "/health/ready",
    cwd: Path = ROOT,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """As :func:`running_server`, yielding the base URL and the process; ``cwd``: the checkout
    it runs from. A peer's ``command`` gets a port from :func:`free_port`."""
    if command is None:
        server, port = start_app(env, cwd, timeout=timeout)
    else:
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, *(part.replace("{port}", str(port)) for part in command)],
            cwd=cwd,
            env={**os.environ, "D2L_LOG_LEVEL": "warning", **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        ready = f"{base_url}{ready_path}"
        wait_while_running(
            server, lambda: httpx.get(ready, timeout=1).status_code == 200, "it was ready", timeout
        )
        yield base_url, server
    finally:
        stop_group(server)


def stop_group(server: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, then SIGKILL to whatever is left of it after 30 s
    or once the server is gone: LitServe's workers outlive a terminated parent otherwise."""
    _signal_group(server, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(timeout=30)
    _signal_group(server, signal.SIGKILL)
    server.wait()


def _signal_group(server: subprocess.Popen, number: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.pid, number)


def cpu_seconds(process: subprocess.Popen) -> float:
    """User plus system CPU time the process has used so far (Linux /proc)."""
    stat = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


async def load_test(
    base_url: str,
    send: Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]],
    requests: int,
    concurrency: int,
) -> dict:
    """``requests`` calls of ``send(client, index)`` from ``concurrency`` workers at once:
    requests/s and latency percentiles (ms). Any non-2xx answer fails the run."""
    latencies: list[float] = []
    pending = list(range(requests))
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:

        async def worker() -> None:
            while pending:
                index = pending.pop()
                start = time.perf_counter()
                (await send(client, index)).raise_for_status()
                latencies.append((time.perf_counter() - start) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "requests_per_second": round(len(latencies) / seconds, 1),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
    }


async def load_for(
    base_url: str,
    send: Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]],
    seconds: float,
    concurrency: int,
    warm_up: int = 8,
) -> dict:
    """``concurrency`` connections sending ``send(client, index)`` back to back for ``seconds``
    (after ``warm_up`` requests): requests/s, latency percentiles (ms) and errors (non-2xx or
    transport failures), which are counted, not raised."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
        for index in range(warm_up):
            (await send(client, index)).raise_for_status()
        latencies: list[float] = []
        errors: dict[str, int] = {}
        counter = iter(range(10**9))
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                index = next(counter)
                start = time.perf_counter()
                try:
                    response = await send(client, index)
                    outcome = None if response.is_success else str(response.status_code)
                except httpx.HTTPError as error:
                    outcome = type(error).__name__
                if outcome is None:
                    latencies.append((time.perf_counter() - start) * 1000)
                else:
                    errors[outcome] = errors.get(outcome, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 95), 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 99), 1) if latencies else None,
        "errors": sum(errors.values()),
        "error_kinds": errors,
    }
