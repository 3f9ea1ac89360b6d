"""``python -m app.server`` as a real process, spoken to over raw sockets: request heads are
bounded in size, count and time, bodies in time, and a load that never ends cannot keep SIGTERM
from stopping the process.

The timeouts are set to one second so the tests are short; what is asserted is what the server
answers, which does not depend on how fast the machine is (a client waits for the answer as
long as it takes).
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench.server import start_app, stop_group
from models.manifest import sha256_of
from tests.test_shutdown import wait_until

pytestmark = pytest.mark.integration  # a server process

LONG = 600  # seconds a client waits for an answer: only a hung server takes this long


def start_server(
    manifest: Path, log: Path | None = None, **env: str
) -> tuple[subprocess.Popen, int]:
    """The server on ``manifest`` (its output in ``log``), once it listens on a port of its
    own choosing."""
    output = log.open("w") if log else subprocess.DEVNULL
    return start_app({"D2L_MANIFEST_PATH": str(manifest), **env}, output=output)


def stop(server: subprocess.Popen) -> None:
    stop_group(server)


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory, colour_classifier: Path) -> Iterator[int]:
    folder = tmp_path_factory.mktemp("served")
    weights = folder / "colours.safetensors"
    weights.write_bytes(colour_classifier.read_bytes())
    manifest = folder / "manifest.json"
    entry = {"name": "colours", "task": "classify", "file": weights.name}
    manifest.write_text(
        json.dumps({"version": 2, "models": [{**entry, "sha256": sha256_of(weights)}]})
    )
    server, port = start_server(
        manifest,
        D2L_DEFAULT_CLASSIFY_MODEL="colours",
        D2L_HTTP_HEADER_TIMEOUT_S="1",
        D2L_HTTP_BODY_TIMEOUT_S="1",
    )
    try:
        ready = f"http://127.0.0.1:{port}/health/ready"
        wait_until(
            lambda: httpx.get(ready).status_code == 200, "the server is ready", process=server
        )
        yield port
    finally:
        stop(server)


def exchange(port: int, data: bytes, send_in_background: bool = False) -> bytes:
    """Send ``data`` and read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.settimeout(LONG)
        if send_in_background:  # a huge request: read the answer while it is still sent

            def send() -> None:
                with contextlib.suppress(OSError):  # the server stopped reading: expected
                    connection.sendall(data)

            threading.Thread(target=send, daemon=True).start()
        else:
            connection.sendall(data)
        received = b""
        try:
            while chunk := connection.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        return received


def status_and_detail(answer: bytes) -> tuple[int, str, bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)["detail"], head.lower()


def test_a_huge_header_is_refused_with_431_and_the_connection_closed(limited_server):
    request = b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10_000_000 + b"\r\n\r\n"
    status, detail, head = status_and_detail(exchange(limited_server, request, True))
    assert status == 431
    assert "D2L_HTTP_MAX_HEADER_BYTES" in detail
    assert b"connection: close" in head


def test_too_many_header_fields_are_refused_with_431(limited_server):
    fields = b"".join(b"X-%d: 1\r\n" % i for i in range(20_000))
    request = b"GET /health/live HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n"
    status, detail, _ = status_and_detail(exchange(limited_server, request, True))
    assert status == 431
    # The 101st field comes long before 32 KiB: the count is the limit that refuses it.
    assert "more than 100 header fields" in detail and "D2L_HTTP_MAX_HEADERS" in detail
    hundred_one = b"".join(b"X-%d: 1\r\n" % i for i in range(101))
    request = b"GET /health/live HTTP/1.1\r\n" + hundred_one + b"\r\n"
    status, detail, _ = status_and_detail(exchange(limited_server, request))
    assert status == 431
    assert "D2L_HTTP_MAX_HEADERS" in detail


def test_a_huge_url_is_refused_with_414(limited_server):
    request = b"GET /similar?word=" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    status, detail, _ = status_and_detail(exchange(limited_server, request, True))
    assert status == 414
    assert "shorter URL" in detail


def test_a_head_that_stops_midway_is_answered_408_and_closed(limited_server):
    status, detail, head = status_and_detail(
        exchange(limited_server, b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
    )
    assert status == 408
    assert "D2L_HTTP_HEADER_TIMEOUT_S" in detail
    assert b"connection: close" in head


def test_a_connection_that_sends_nothing_is_closed(limited_server):
    assert exchange(limited_server, b"") == b""


@pytest.mark.parametrize(
    ("path", "content_type", "start"),
    [
        ("/classify", "multipart/form-data; boundary=zz", b"--zz\r\n"),
        ("/geometry/iou", "application/json", b'{"boxes1": '),
    ],
)
def test_a_body_shorter_than_its_content_length_is_answered_408(
    limited_server, path, content_type, start
):
    request = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: 100000\r\n\r\n"
    ).encode() + start
    status, detail, head = status_and_detail(exchange(limited_server, request))
    assert status == 408
    assert "D2L_HTTP_BODY_TIMEOUT_S" in detail
    assert b"connection: close" in head
    metrics = httpx.get(f"http://127.0.0.1:{limited_server}/metrics").text
    assert f'route="{path}",status="408"' in metrics


def test_a_body_left_unsent_after_an_early_answer_cannot_hold_the_connection(limited_server):
    request = b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc"
    answer = exchange(limited_server, request)  # returns once the server closes
    assert answer.startswith(b"HTTP/1.1 404")
    after = b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    assert exchange(limited_server, after).startswith(b"HTTP/1.1 200"), "the server serves on"


def test_an_invalid_request_gets_a_json_400(limited_server):
    status, detail, _ = status_and_detail(exchange(limited_server, b"NOT HTTP AT ALL\r\n\r\n"))
    assert status == 400
    assert "not valid HTTP/1.1" in detail


def test_sigterm_stops_the_process_while_a_load_never_ends(tmp_path, colour_classifier):
    # A sparse 4 TB checkpoint (allowed by a raised size limit) takes hours to hash: the load
    # is stuck, as on a hung file system.
    stuck = tmp_path / "stuck.pt"
    with stuck.open("wb") as file:
        file.truncate(4 << 40)
    weights = tmp_path / "colours.safetensors"
    weights.write_bytes(colour_classifier.read_bytes())
    manifest = tmp_path / "manifest.json"
    models = [
        {"name": "colours", "task": "classify", "file": weights.name, "sha256": sha256_of(weights)},
        {"name": "stuck", "task": "detect", "file": stuck.name, "sha256": "0" * 64},
    ]
    manifest.write_text(json.dumps({"version": 2, "models": models}))
    server, port = start_server(manifest, D2L_MAX_WEIGHTS_BYTES=str(8 << 40))
    try:

        def loading_the_stuck_model() -> bool:
            states = httpx.get(f"http://127.0.0.1:{port}/health/ready").json()["models"]
            return [m["state"] for m in states] == ["ready", "loading"]

        wait_until(loading_the_stuck_model, "the stuck load has begun", process=server)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=LONG) in (0, -signal.SIGTERM)
    finally:
        stop(server)


def test_a_connection_refused_for_capacity_is_not_read_again_before_its_retry_after(
    tmp_path, colour_classifier
):
    weights = tmp_path / "colours.safetensors"
    weights.write_bytes(colour_classifier.read_bytes())
    manifest = tmp_path / "manifest.json"
    entry = {"name": "colours", "task": "classify", "file": weights.name}
    manifest.write_text(
        json.dumps({"version": 2, "models": [{**entry, "sha256": sha256_of(weights)}]})
    )
    server, port = start_server(manifest, D2L_MAX_BODIES_ARRIVING="1")
    body = json.dumps({"boxes1": [[0, 0, 2, 2]], "boxes2": [[1, 1, 3, 3]]}).encode()
    request = (
        b"POST /geometry/iou HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    ) + body
    try:
        wait_until(
            lambda: httpx.get(f"http://127.0.0.1:{port}/health/ready").status_code == 200,
            "the server is ready",
            process=server,
        )
        with (
            socket.create_connection(("127.0.0.1", port)) as holder,
            socket.create_connection(("127.0.0.1", port)) as eager,
        ):
            # The only slot for a body arriving is held by a body still on its way.
            holder.sendall(request[: len(request) - 5])
            wait_until(
                lambda: (
                    "d2l_bodies_arriving 1.0" in httpx.get(f"http://127.0.0.1:{port}/metrics").text
                ),
                "the slot is taken",
                process=server,
            )
            eager.settimeout(LONG)
            eager.sendall(request)
            refused = b""
            while b"}" not in refused:  # a 503 comes at once, with Retry-After
                refused += eager.recv(65536)
            assert refused.startswith(b"HTTP/1.1 503")
            assert b"retry-after: 1" in refused.lower()
            started = time.monotonic()
            eager.sendall(request)  # retried at once, on the same connection
            again = eager.recv(65536)
            waited = time.monotonic() - started
        assert again.startswith(b"HTTP/1.1 503"), "the slot is still held: refused again"
        assert waited >= 0.9, "the retry was not read before its Retry-After"
    finally:
        stop(server)


@pytest.mark.parametrize(
    ("log_format", "level", "logged"),
    [("json", "info", True), ("text", "info", True), ("json", "warning", False)],
)
def test_the_log_format_and_level_settings(tmp_path, colour_classifier, log_format, level, logged):
    weights = tmp_path / "colours.safetensors"
    weights.write_bytes(colour_classifier.read_bytes())
    manifest = tmp_path / "manifest.json"
    entry = {"name": "colours", "task": "classify", "file": weights.name}
    manifest.write_text(
        json.dumps({"version": 2, "models": [{**entry, "sha256": sha256_of(weights)}]})
    )
    log = tmp_path / "server.log"
    server, port = start_server(manifest, log, D2L_LOG_FORMAT=log_format, D2L_LOG_LEVEL=level)
    try:
        live = f"http://127.0.0.1:{port}/health/live"
        wait_until(lambda: httpx.get(live).status_code == 200, "the server answers", process=server)
        httpx.get(f"http://127.0.0.1:{port}/nowhere", headers={"X-Request-ID": "trace-42"})
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=LONG)
    finally:
        stop(server)
    lines = [line for line in log.read_text().splitlines() if "/nowhere" in line]
    if not logged:
        assert lines == [], "info lines are not written at level warning"
    elif log_format == "json":
        (line,) = [json.loads(line) for line in lines]
        assert line["request_id"] == "trace-42"
        assert line["status"] == 404 and line["level"] == "info"
    else:
        assert lines == [lines[0]] and "INFO app.requests: GET /nowhere 404" in lines[0]
