"""``python -m app.server``: uvicorn with this service's HTTP limits (``make run`` starts it).

Uvicorn's httptools protocol accepts a request head of any size (a 10 MB header, 20,000 header
fields) and gives a client all the time it likes to send its head, and its body once an answer
went out without reading it. :class:`LimitedHttpToolsProtocol` adds what front servers such as
nginx have:

- the request line and header fields at most ``D2L_HTTP_MAX_HEADER_BYTES`` (414 for the line,
  431 for the fields) and at most ``D2L_HTTP_MAX_HEADERS`` fields (431);
- the head within ``D2L_HTTP_HEADER_TIMEOUT_S`` of the connection or of the request's first
  byte (408; an idle new connection is closed quietly);
- after an answer given without reading the body (401, 404, 503), the rest of the body within
  ``D2L_HTTP_BODY_TIMEOUT_S``, else the connection is closed. (While the app reads the body,
  the app's own limit answers 408: ``app.middleware.body_limit``.)

And it enforces the ``Retry-After`` of a refusal for capacity (503): the connection that got it
is not read again for that long (at most a second), so a client that retries at once in a
loop is slowed to one refusal per connection per second instead of thousands, which would take
the cores from the requests being served. The refusal itself is answered at once.

Refusals are JSON ``{"detail": ...}`` with ``Connection: close``; the connection is then
half-closed and what the client still sends is read and dropped for a moment, so that it gets to
read the answer instead of a reset. On SIGTERM uvicorn waits at most ``D2L_SHUTDOWN_TIMEOUT_S``
for the requests in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import uvicorn
from uvicorn.importer import import_from_string
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from app.core.config import Settings
from app.core.errors import RETRY_AFTER_STATE

LINGER_S = 2.0  # how long a refused connection's input is read and dropped before closing
MAX_BACKOFF_S = 1.0  # longest pause of a connection after a 503 for capacity


@dataclass(frozen=True)
class HttpLimits:
    max_head_bytes: int = 32 * 1024
    max_headers: int = 100
    head_timeout_s: float = 10.0
    body_timeout_s: float = 60.0

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpLimits:
        return cls(
            settings.http_max_header_bytes,
            settings.http_max_headers,
            settings.http_header_timeout_s,
            settings.http_body_timeout_s,
        )


class _Refusal(Exception):
    """Raised inside a parser callback: answer ``status`` and stop reading the request."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """Uvicorn's httptools protocol with bounded request heads and timeouts (see above)."""

    limits: ClassVar[HttpLimits] = HttpLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._head_started = False
        self._refusal: _Refusal | None = None
        self._refused = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._drain_timer: asyncio.TimerHandle | None = None

    # Connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering: read and drop until the client closes
        super().data_received(data)

    def eof_received(self) -> bool | None:
        return False if self._refused else super().eof_received()

    # Parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        self._head_started = True
        self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._head_bytes += len(url)
        if self._head_bytes > self.limits.max_head_bytes:
            self._refuse_in_parser(
                414,
                f"The request line is longer than {self.limits.max_head_bytes:,} bytes: send a "
                f"shorter URL (the limit is D2L_HTTP_MAX_HEADER_BYTES)",
            )

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._head_bytes += len(name) + len(value) + 4  # ": " and CRLF
        if self._head_bytes > self.limits.max_head_bytes:
            self._refuse_in_parser(
                431,
                f"The request headers are larger than {self.limits.max_head_bytes:,} bytes: send "
                f"fewer or shorter headers (the limit is D2L_HTTP_MAX_HEADER_BYTES)",
            )
        if len(self.headers) > self.limits.max_headers:
            self._refuse_in_parser(
                431,
                f"The request has more than {self.limits.max_headers} header fields: send fewer "
                f"(the limit is D2L_HTTP_MAX_HEADERS)",
            )

    def on_headers_complete(self) -> None:
        self._cancel(self._head_timer)
        self._head_started = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._cancel(self._drain_timer)
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        cycle = self.cycle
        if cycle is None or self.transport.is_closing():
            return
        if cycle.more_body:
            # Answered without reading the whole body: the client gets as long to finish
            # sending it as it had to send it at all, then the connection closes.
            self._cancel(self._drain_timer)
            self._drain_timer = self.loop.call_later(
                self.limits.body_timeout_s, self._close_undrained
            )
        retry_after = cycle.scope.get("state", {}).get(RETRY_AFTER_STATE)
        if retry_after:
            self.flow.pause_reading()
            self.loop.call_later(min(float(retry_after), MAX_BACKOFF_S), self._resume_reading)

    # Refusals

    def send_400_response(self, msg: str) -> None:
        # Uvicorn calls this for any parser error, ours included.
        refusal = self._refusal or _Refusal(
            400, "The request is not valid HTTP/1.1: check the request line and headers"
        )
        self._refuse(refusal.status, refusal.detail)

    def _refuse_in_parser(self, status: int, detail: str) -> None:
        self._refusal = _Refusal(status, detail)
        raise self._refusal

    def _refuse(self, status: int, detail: str) -> None:
        if self._refused or self.transport.is_closing():
            return
        self._refused = True
        self._cancel_timers()
        body = json.dumps({"detail": detail}).encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the answer is complete; keep reading a moment
            self.loop.call_later(LINGER_S, self._close)
        else:
            self.transport.close()

    def _head_timed_out(self) -> None:
        if self._head_started or self._head_bytes:
            self._refuse(
                408,
                f"The request line and headers did not arrive within "
                f"{self.limits.head_timeout_s:g} s (the limit is D2L_HTTP_HEADER_TIMEOUT_S)",
            )
        elif self.cycle is None or self.cycle.response_complete:
            self._close()  # a connection that never sent anything

    def _close_undrained(self) -> None:
        self._close()

    def _resume_reading(self) -> None:
        if not self.transport.is_closing():
            self.flow.resume_reading()

    # Timers

    def _arm_head_timer(self) -> None:
        self._cancel(self._head_timer)
        self._head_timer = self.loop.call_later(self.limits.head_timeout_s, self._head_timed_out)

    def _cancel(self, timer: asyncio.TimerHandle | None) -> None:
        if timer is not None:
            timer.cancel()

    def _cancel_timers(self) -> None:
        self._cancel(self._head_timer)
        self._cancel(self._drain_timer)

    def _close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()


def limited_protocol(limits: HttpLimits) -> type[LimitedHttpToolsProtocol]:
    """The protocol class with ``limits`` (uvicorn instantiates it per connection)."""
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})


class DrainingServer(uvicorn.Server):
    """Uvicorn's server that, when a shutdown begins, tells the models to run what is queued
    at once instead of waiting for their batches to fill (uvicorn waits for the requests in
    flight before the app's lifespan hears of the shutdown). With ``port_file``, once it
    listens it writes the port it got there (``--port 0``: the system picks a free one, so
    tests and benchmarks never race other programs for a port)."""

    def __init__(self, config: uvicorn.Config, app: Any, port_file: Path | None = None) -> None:
        super().__init__(config)
        self._app = app
        self._port_file = port_file

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self._port_file is not None and self.started:
            port = self.servers[0].sockets[0].getsockname()[1]
            partial = self._port_file.with_name(self._port_file.name + ".partial")
            partial.write_text(f"{port}\n")
            partial.replace(self._port_file)  # appears whole, or not at all

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        registry = getattr(getattr(self._app, "state", None), "registry", None)
        if registry is not None:
            registry.begin_drain()
        await super().shutdown(sockets)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="0: any free port")
    parser.add_argument(
        "--port-file", type=Path, help="write the port listened on to this file once serving"
    )
    parser.add_argument("--app", default="app.main:app", help="the ASGI app, as module:attribute")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = get_args_parser().parse_args(argv)
    settings = Settings()
    app = import_from_string(args.app)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        http=limited_protocol(HttpLimits.from_settings(settings)),
        timeout_keep_alive=settings.http_keep_alive_s,
        timeout_graceful_shutdown=settings.shutdown_timeout_s,
        access_log=False,  # the app logs every request itself, with its id
    )
    DrainingServer(config, app, args.port_file).run()


if __name__ == "__main__":
    main()
