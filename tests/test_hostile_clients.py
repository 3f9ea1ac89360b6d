"""``python -m app.server`` as a real process against clients that cost others: hundreds of
stalled bodies, one client holding many, and the adversarial corpus (``bench.corpus``) sent to
the committed models with good requests in the same batches.

Stalled senders come from other loopback addresses (127.0.0.2 and up) than the good requests
(127.0.0.1), as they would from other hosts. The server's own counters on ``/metrics`` say when
the stalled bodies are all open and when memory was released: events, not sleeps.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from bench.adversarial import metric, send_corpus, settled_rss_mb, wrong_answers
from bench.corpus import corpus, good_upload
from models.manifest import sha256_of
from tests.images import RED, colour_image, encoded
from tests.test_server import LONG, start_server, status_and_detail, stop
from tests.test_shutdown import ROOT, wait_until

pytestmark = pytest.mark.integration  # server processes

IOU = {"boxes1": [[0, 0, 2, 2]], "boxes2": [[1, 1, 3, 3]]}


@contextmanager
def served(manifest: Path, **env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """The server on ``manifest``, once ready: its base URL and process."""
    server, port = start_server(manifest, **env)
    base_url = f"http://127.0.0.1:{port}"
    try:
        ready = f"{base_url}/health/ready"
        wait_until(lambda: httpx.get(ready).is_success, "the server is ready", process=server)
        yield base_url, server
    finally:
        stop(server)


@pytest.fixture
def colour_served(tmp_path, colour_classifier):
    weights = tmp_path / "colours.safetensors"
    weights.write_bytes(colour_classifier.read_bytes())
    manifest = tmp_path / "manifest.json"
    entry = {"name": "colours", "task": "classify", "file": weights.name}
    manifest.write_text(
        json.dumps({"version": 2, "models": [{**entry, "sha256": sha256_of(weights)}]})
    )

    def serve(**env: str):
        return served(manifest, D2L_DEFAULT_CLASSIFY_MODEL="colours", **env)

    return serve


def stalled(port: int, source: str, path: str, content_type: str, sent: bytes) -> socket.socket:
    """A connection from ``source`` that sends a request head promising 100,000 bytes of body,
    then ``sent`` of it, and nothing more."""
    connection = socket.create_connection(("127.0.0.1", port), source_address=(source, 0))
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: 100000\r\n\r\n"
    ).encode()
    connection.sendall(head + sent)
    return connection


UPLOAD = "multipart/form-data; boundary=b"
UPLOAD_START = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n\xff'


def post_image(base_url: str) -> httpx.Response:
    upload = encoded(colour_image(RED))
    return httpx.post(f"{base_url}/classify", files={"file": ("x.jpg", upload)}, timeout=LONG)


def test_hundreds_of_stalled_bodies_cost_the_other_clients_nothing(colour_served):
    # Long body timeouts: the stalled bodies stay open for as long as the test needs them.
    patient = {"D2L_HTTP_BODY_TIMEOUT_S": "3600", "D2L_HTTP_BODY_IDLE_TIMEOUT_S": "3600"}
    with colour_served(**patient) as (base_url, server), ExitStack() as connections:
        port = int(base_url.rsplit(":", 1)[1])
        for _ in range(16):  # twice the geometry workers' capacity (D2L_GEOMETRY_QUEUE = 8)
            connections.enter_context(
                stalled(port, "127.0.0.2", "/geometry/iou", "application/json", b"{")
            )
        for index in range(300):  # over the model's capacity (D2L_MAX_QUEUE = 256)
            source = f"127.0.0.{3 + index % 5}"  # 60 from each of 5 addresses
            connections.enter_context(stalled(port, source, "/classify", UPLOAD, UPLOAD_START))
        arriving = 316
        wait_until(
            lambda: metric(base_url, "d2l_bodies_arriving") == arriving,
            "every body is arriving",
            process=server,
        )
        iou = httpx.post(f"{base_url}/geometry/iou", json=IOU, timeout=LONG)
        assert iou.status_code == 200, iou.text
        assert iou.json() == {"iou": [[1 / 7]]}
        classified = post_image(base_url)
        assert classified.status_code == 200, classified.text
        assert classified.json()["predictions"][0]["label"] == "red"
        assert metric(base_url, "d2l_bodies_arriving") == 316, "still open meanwhile"


def test_one_client_cannot_hold_more_than_its_share_of_arriving_bodies(colour_served):
    patient = {"D2L_HTTP_BODY_TIMEOUT_S": "3600", "D2L_HTTP_BODY_IDLE_TIMEOUT_S": "3600"}
    with colour_served(**patient) as (base_url, server), ExitStack() as connections:
        port = int(base_url.rsplit(":", 1)[1])
        for _ in range(64):  # D2L_MAX_BODIES_ARRIVING_PER_CLIENT
            connections.enter_context(stalled(port, "127.0.0.2", "/classify", UPLOAD, b"-"))
        wait_until(
            lambda: metric(base_url, "d2l_bodies_arriving") == 64, "64 are arriving", process=server
        )
        one_more = connections.enter_context(stalled(port, "127.0.0.2", "/classify", UPLOAD, b""))
        one_more.settimeout(LONG)
        refused = b""
        while b"}" not in refused:  # answered at once, before its body
            refused += one_more.recv(65536)
        status, detail, head = status_and_detail(refused)
        assert status == 429
        assert "already has 64 request bodies arriving" in detail
        assert b"retry-after: 1" in head
        assert post_image(base_url).status_code == 200, "another client is served"


def test_a_body_that_stops_arriving_is_answered_408_after_the_idle_timeout(colour_served):
    with colour_served(D2L_HTTP_BODY_IDLE_TIMEOUT_S="1") as (base_url, server):
        port = int(base_url.rsplit(":", 1)[1])
        with stalled(port, "127.0.0.1", "/classify", UPLOAD, UPLOAD_START) as connection:
            connection.settimeout(LONG)
            status, detail, head = status_and_detail(_read_until_closed(connection))
        assert status == 408
        assert "No byte of the request body arrived for 1 s" in detail
        assert b"connection: close" in head
        wait_until(
            lambda: metric(base_url, "d2l_bodies_arriving") == 0, "its slot is free", process=server
        )


def _read_until_closed(connection: socket.socket) -> bytes:
    answer = b""
    while chunk := connection.recv(65536):
        answer += chunk
    return answer


def test_the_adversarial_corpus_gets_4xx_good_requests_200_and_memory_settles():
    items = corpus()
    endpoints = ("/classify", "/detect?model=fasterrcnn-logo", "/detect/render?model=tinyssd-logo")
    with served(ROOT / "weights" / "manifest.json") as (base_url, server):  # as `make run`
        for endpoint in endpoints:  # each path once, as any client's first requests
            first = httpx.post(
                base_url + endpoint, files={"file": ("a.jpg", good_upload(0))}, timeout=LONG
            )
            assert first.status_code == 200
        start = settled_rss_mb(base_url, server.pid)
        # In a thread of its own: after the browser tests an event loop may own this one.
        with ThreadPoolExecutor(1) as thread:
            sending = send_corpus(base_url, items, endpoints, concurrency=16)
            records = thread.submit(asyncio.run, sending).result()
        settled = settled_rss_mb(base_url, server.pid)
    assert len(records) == 2 * len(items) * len(endpoints)
    assert wrong_answers(records) == []
    assert sum(r["expect"] == "good" for r in records) == len(items) * len(endpoints)
    assert settled - start < 300, f"memory grew from {start:.0f} to {settled:.0f} MB"
