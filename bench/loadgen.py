"""A lean HTTP/1.1 load generator (like wrk): many keep-alive connections, each sending one
prepared request back to back, on raw asyncio streams so that the client spends little of the
machine's CPU (httpx costs about ten times more per request, which on a 2-core machine would
measure the client more than the server).

Each connection either sends its next request at once after any answer (a hostile client), or
waits the ``Retry-After`` of a 503 first (a polite one, as HTTP clients with retry policies do).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit


def multipart_request(host: str, path: str, field_name: str, filename: str, data: bytes) -> bytes:
    """The bytes of ``POST path`` uploading ``data`` as the multipart field ``field_name``."""
    boundary = b"d2lservebenchboundary"
    body = b"".join(
        [
            b"--" + boundary + b"\r\n",
            (
                f'Content-Disposition: form-data; name="{field_name}"; filename="{filename}"\r\n'
            ).encode(),
            b"Content-Type: application/octet-stream\r\n\r\n",
            data,
            b"\r\n--" + boundary + b"--\r\n",
        ]
    )
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary.decode()}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


def json_request(host: str, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


@dataclass
class LoadResult:
    connections: int
    seconds: float
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    ok_latencies_ms: list[float] = field(default_factory=list)
    reconnects: int = 0

    def summary(self) -> dict:
        answered = sum(self.statuses.values())
        ordered = sorted(self.ok_latencies_ms)

        def pct(q: float) -> float | None:
            if not ordered:
                return None
            return round(ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))], 1)

        return {
            "connections": self.connections,
            "seconds": round(self.seconds, 1),
            "ok_per_second": round(self.statuses[200] / self.seconds, 1),
            "answers_per_second": round(answered / self.seconds, 1),
            "statuses": {str(code): count for code, count in sorted(self.statuses.items())},
            "share_504": round(self.statuses[504] / answered, 4) if answered else None,
            "transport_errors": dict(self.errors),
            "reconnects": self.reconnects,
            "p50_ms": pct(50),
            "p99_ms": pct(99),
        }


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if b":" in line:
            name, value = line.split(b":", 1)
            headers[name.strip().lower()] = value.strip()
    await reader.readexactly(int(headers.get(b"content-length", b"0")))
    return status, headers


async def run_load(
    base_url: str,
    request: bytes,
    connections: int,
    seconds: float,
    honour_retry_after: bool = False,
) -> LoadResult:
    """``connections`` clients sending ``request`` back to back for ``seconds``. On loopback,
    every :data:`CONNECTIONS_PER_ADDRESS` connections come from their own address (127.0.1.x),
    as clients on other hosts would: the service limits what one address may send at once."""
    url = urlsplit(base_url)
    result = LoadResult(connections, seconds)
    deadline = time.monotonic() + seconds

    async def client(index: int) -> None:
        reader = writer = None
        reused = False
        source = _source_address(url.hostname, index)
        while time.monotonic() < deadline:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(
                        url.hostname, url.port, local_addr=source
                    )
                    reused = False
                started = time.perf_counter()
                writer.write(request)
                status, headers = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError) as error:
                stale = reused and isinstance(error, asyncio.IncompleteReadError)
                if stale and not error.partial:
                    # The server closed an idle keep-alive connection: HTTP clients reconnect.
                    result.reconnects += 1
                else:
                    result.errors[type(error).__name__] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                continue
            reused = True
            result.statuses[status] += 1
            if status == 200:
                result.ok_latencies_ms.append((time.perf_counter() - started) * 1000)
            if headers.get(b"connection", b"").lower() == b"close":
                writer.close()
                reader = writer = None
            if status == 503 and honour_retry_after:
                wait = float(headers.get(b"retry-after", b"1"))
                await asyncio.sleep(min(wait, max(0.0, deadline - time.monotonic())))
        if writer is not None:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(client(index) for index in range(connections)))
    result.seconds = time.monotonic() - started
    return result


CONNECTIONS_PER_ADDRESS = 16


def _source_address(host: str | None, index: int) -> tuple[str, int] | None:
    """The local address of connection ``index`` to ``host``: one of 127.0.1.0/24 when it is
    127.0.0.1, else the system's choice."""
    if host != "127.0.0.1":
        return None
    return (f"127.0.1.{1 + index // CONNECTIONS_PER_ADDRESS % 254}", 0)
