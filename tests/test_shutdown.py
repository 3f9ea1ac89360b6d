"""Graceful shutdown of the real server process: on SIGTERM, uvicorn stops accepting and the
service answers every request it has queued before it exits."""

from __future__ import annotations

import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bench.server import start_app, wait_while_running
from tests.images import BLUE, GREEN, RED, colour_image, encoded

pytestmark = pytest.mark.integration  # a server process

ROOT = Path(__file__).resolve().parent.parent


def wait_until(
    condition, what: str, timeout: float = 600, process: subprocess.Popen | None = None
) -> None:
    """Poll ``condition`` until it holds (transport errors count as false); fail after
    ``timeout`` seconds, or at once if ``process`` exits meanwhile."""
    if process is not None:
        try:
            wait_while_running(process, condition, what, timeout)
        except RuntimeError as error:
            raise AssertionError(str(error)) from None
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def queued(base_url: str) -> float:
    for line in httpx.get(f"{base_url}/metrics").text.splitlines():
        if line.startswith('d2l_model_queue_depth{model="colours"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_sigterm_answers_every_queued_request_then_exits(colour_manifest: Path):
    env = {
        "D2L_MANIFEST_PATH": str(colour_manifest),
        "D2L_DEFAULT_CLASSIFY_MODEL": "colours",
        "D2L_LOG_LEVEL": "info",
        # Batches wait up to 10 s to fill: the requests are still queued at SIGTERM.
        "D2L_MAX_WAIT_MS": "10000",
        "D2L_MAX_BATCH_SIZE": "64",
    }
    server, port = start_app(env, output=subprocess.PIPE)
    base_url = f"http://127.0.0.1:{port}"
    try:
        ready = f"{base_url}/health/ready"
        wait_until(lambda: httpx.get(ready).status_code == 200, "ready", process=server)
        colours = [RED, GREEN, BLUE] * 2

        def classify(colour):
            upload = encoded(colour_image(colour))
            files = {"file": ("x.jpg", upload, "image/jpeg")}
            return httpx.post(f"{base_url}/classify", files=files, timeout=600)

        with ThreadPoolExecutor(len(colours)) as pool:
            answers = [pool.submit(classify, colour) for colour in colours]
            wait_until(
                lambda: queued(base_url) == len(colours), "every request is queued", process=server
            )
            server.send_signal(signal.SIGTERM)
            results = [answer.result() for answer in answers]
        assert [r.status_code for r in results] == [200] * len(colours)
        labels = [r.json()["predictions"][0]["label"] for r in results]
        assert labels == ["red", "green", "blue"] * 2
        # Uvicorn re-raises the signal once shut down, so a supervisor sees why it stopped.
        assert server.wait(timeout=600) in (0, -signal.SIGTERM)
    finally:
        if server.poll() is None:
            server.kill()
        output = server.communicate()[0]
    # The six were still queued at SIGTERM (a batch waits 10 s to fill): the drain ran them.
    assert "running the 6 images still queued at once" in output
    assert "every queued request was answered" in output
