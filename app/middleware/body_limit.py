"""Request bodies, bounded in size and in time, with JSON errors.

- Over ``max_bytes``: 413 at once when the declared ``Content-Length`` says so, else as soon as a
  streamed (chunked) body passes it. (Starlette's own limiter answers in plain text.)
- Slower than ``timeout_s`` from the start of the request to the body's last byte: 408. A client
  that stops sending mid-body (fewer bytes than its ``Content-Length``) cannot hold a
  connection and a slot of its model for longer than that.

Either way the body was not read to its end, so the answer says ``Connection: close``: the rest
of the body is not drained, and a client that waits for ``100 Continue`` is not left waiting.
An answer given without reading the body for other reasons (401, 404, 503) keeps the connection:
the server drains the rest, within the same time limit (``app.server``).
"""

from __future__ import annotations

import asyncio
import time

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def too_large_detail(max_bytes: int) -> str:
    return (
        f"The request body is larger than the limit of {max_bytes:,} bytes: send a smaller body "
        f"(the server's limit is set by D2L_MAX_BODY_BYTES)"
    )


def too_slow_detail(timeout_s: float) -> str:
    return (
        f"The request body did not arrive within {timeout_s:g} s: send it faster, or in "
        f"smaller requests (the server's limit is set by D2L_HTTP_BODY_TIMEOUT_S)"
    )


CLOSE = (b"connection", b"close")


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float = 60.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response = JSONResponse(
                {"detail": too_large_detail(self.max_bytes)},
                status_code=413,
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        deadline = time.monotonic() + self.timeout_s
        received = 0
        complete = declared == b"0" or (
            not declared and b"transfer-encoding" not in headers
        )  # no body to read
        cut_short = False  # refused mid-body: the rest will not be read
        waits_for_continue = headers.get(b"expect", b"").lower() == b"100-continue"

        async def limited_receive() -> Message:
            nonlocal received, complete, cut_short
            if complete:
                return await receive()
            try:
                async with asyncio.timeout(deadline - time.monotonic()):
                    message = await receive()
            except TimeoutError:
                cut_short = True
                raise HTTPException(408, too_slow_detail(self.timeout_s)) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if received > self.max_bytes:
                    cut_short = True
                    # Raised inside the endpoint's body read; the JSON error handler answers it.
                    raise HTTPException(413, too_large_detail(self.max_bytes))
            return message

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and (
                cut_short or (waits_for_continue and not complete)
            ):
                message = {**message, "headers": [*message.get("headers", []), CLOSE]}
            await send(message)

        await self.app(scope, limited_receive, closing_send)
