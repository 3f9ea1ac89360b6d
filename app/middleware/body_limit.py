"""Request bodies, bounded in size, in time and in number while they arrive, with JSON errors.

- Over ``max_bytes``: 413 at once when the declared ``Content-Length`` says so, else as soon as a
  streamed (chunked) body passes it. (Starlette's own limiter answers in plain text.)
- Slower than ``timeout_s`` from the start of the request to the body's last byte, or no byte
  for ``idle_timeout_s`` (nginx's ``client_body_timeout``): 408. A client that stops sending
  mid-body cannot hold a connection for long.
- Bodies still arriving are counted apart from the work the service has taken in (a request
  takes its model's or the geometry pool's capacity only once its body is complete): at most
  ``arrivals.limit`` in all (503) and ``arrivals.per_client`` from one client address (429),
  refused before a byte of the body is read with ``Retry-After`` (the connection is then not
  read for that long, as after any refusal for capacity); and at most ``arrivals.max_bytes``
  received of them (503: before the body when its declared length would pass it, else at the
  chunk that does). Slow or stalled senders therefore cost the others nothing but these slots,
  and one client cannot take them all.

Over the size, time or byte limits mid-body, the body was not read to its end, so the answer
says ``Connection: close``: the rest of the body is not drained, and a client that waits for
``100 Continue`` is not left waiting. An answer given without reading the body for other
reasons (401, 404, 503) keeps the connection: the server drains the rest, within the same time
limit (``app.server``).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import RETRY_AFTER_STATE


def too_large_detail(max_bytes: int, setting: str = "D2L_MAX_BODY_BYTES") -> str:
    return (
        f"The request body is larger than the limit of {max_bytes:,} bytes: send a smaller body "
        f"(the server's limit is set by {setting})"
    )


def too_slow_detail(timeout_s: float, setting: str = "D2L_HTTP_BODY_TIMEOUT_S") -> str:
    return (
        f"The request body did not arrive within {timeout_s:g} s: send it faster, or in "
        f"smaller requests (the server's limit is set by {setting})"
    )


def stalled_detail(idle_timeout_s: float) -> str:
    return (
        f"No byte of the request body arrived for {idle_timeout_s:g} s: send the body without "
        f"pausing (the server's limit is set by D2L_HTTP_BODY_IDLE_TIMEOUT_S)"
    )


CLOSE = (b"connection", b"close")


@dataclass
class Arrivals:
    """Request bodies still arriving: at most ``limit`` in all, ``per_client`` per address, and
    ``max_bytes`` received of them so far (what is held for them, in memory or spooled)."""

    limit: int = 512
    per_client: int = 64
    max_bytes: int = 1 << 30
    in_all: int = 0
    bytes: int = 0
    by_client: Counter[str] = field(default_factory=Counter)

    def refusal(self, client: str, declared: int = 0) -> tuple[int, str] | None:
        """The status and message that refuse one more body from ``client`` (of ``declared``
        bytes, when it says), or None."""
        if self.by_client[client] >= self.per_client:
            return 429, (
                f"This client already has {self.per_client} request bodies arriving: wait for "
                f"them to finish before sending more (the limit is "
                f"D2L_MAX_BODIES_ARRIVING_PER_CLIENT)"
            )
        if self.in_all >= self.limit:
            return 503, (
                f"The service is receiving {self.limit} request bodies already: retry in a "
                f"moment (the limit is D2L_MAX_BODIES_ARRIVING)"
            )
        if self.bytes + declared > self.max_bytes:
            return 503, self.full_detail()
        return None

    def full_detail(self) -> str:
        return (
            f"The service holds {self.max_bytes:,} bytes of request bodies still arriving: "
            f"retry in a moment (the limit is D2L_MAX_BYTES_ARRIVING)"
        )

    def enter(self, client: str) -> None:
        self.in_all += 1
        self.by_client[client] += 1

    def leave(self, client: str, received: int) -> None:
        self.bytes -= received
        self.in_all -= 1
        self.by_client[client] -= 1
        if not self.by_client[client]:
            del self.by_client[client]


@dataclass(frozen=True)
class UploadLimits:
    """Larger bodies, and more time to send them, for the paths under ``prefixes`` (data sets
    for training): ``max_bytes`` within ``timeout_s``."""

    prefixes: tuple[str, ...] = ()
    max_bytes: int = 1 << 30
    timeout_s: float = 3600.0


class BodySizeLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        timeout_s: float = 60.0,
        idle_timeout_s: float = 10.0,
        arrivals: Arrivals | None = None,
        uploads: UploadLimits = UploadLimits(),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.arrivals = arrivals or Arrivals()
        self.uploads = uploads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes, timeout_s = self.max_bytes, self.timeout_s
        too_large = too_large_detail(max_bytes)
        too_slow = too_slow_detail(timeout_s)
        if self.uploads.prefixes and scope["path"].startswith(self.uploads.prefixes):
            max_bytes, timeout_s = self.uploads.max_bytes, self.uploads.timeout_s
            too_large = too_large_detail(max_bytes, "D2L_MAX_UPLOAD_BYTES")
            too_slow = too_slow_detail(timeout_s, "D2L_UPLOAD_TIMEOUT_S")
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > max_bytes:
            response = JSONResponse(
                {"detail": too_large},
                status_code=413,
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        complete = declared == b"0" or (
            not declared and b"transfer-encoding" not in headers
        )  # no body to read
        client = scope["client"][0] if scope.get("client") else ""
        if not complete:
            refusal = self.arrivals.refusal(client, int(declared) if declared.isdigit() else 0)
            if refusal is not None:
                # As a model at capacity refuses: the connection stays, is not read for the
                # Retry-After (app.server), and the unread body is drained after that.
                status, detail = refusal
                scope.setdefault("state", {})[RETRY_AFTER_STATE] = 1
                response = JSONResponse({"detail": detail}, status, {"Retry-After": "1"})
                await response(scope, receive, send)
                return
            self.arrivals.enter(client)
        deadline = time.monotonic() + timeout_s
        received = 0
        cut_short = False  # refused mid-body: the rest will not be read
        waits_for_continue = headers.get(b"expect", b"").lower() == b"100-continue"

        def arrived() -> None:
            nonlocal complete
            if not complete:
                complete = True
                self.arrivals.leave(client, received)

        async def limited_receive() -> Message:
            nonlocal received, cut_short
            if complete:
                return await receive()
            left = deadline - time.monotonic()
            try:
                async with asyncio.timeout(min(left, self.idle_timeout_s)):
                    message = await receive()
            except TimeoutError:
                cut_short = True
                arrived()
                detail = (
                    too_slow if left <= self.idle_timeout_s else stalled_detail(self.idle_timeout_s)
                )
                raise HTTPException(408, detail) from None
            if message["type"] == "http.request":
                chunk = len(message.get("body", b""))
                received += chunk
                self.arrivals.bytes += chunk
                if received > max_bytes:
                    cut_short = True
                    arrived()
                    # Raised inside the endpoint's body read; the JSON error handler answers it.
                    raise HTTPException(413, too_large)
                if self.arrivals.bytes > self.arrivals.max_bytes:
                    cut_short = True
                    arrived()
                    detail = self.arrivals.full_detail()
                    raise HTTPException(503, detail, headers={"Retry-After": "1"})
                if not message.get("more_body", False):
                    arrived()
            elif message["type"] == "http.disconnect":
                arrived()
            return message

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and (
                cut_short or (waits_for_continue and not complete)
            ):
                message = {**message, "headers": [*message.get("headers", []), CLOSE]}
            await send(message)

        try:
            await self.app(scope, limited_receive, closing_send)
        finally:
            arrived()
