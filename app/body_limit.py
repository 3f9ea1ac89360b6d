"""Refuse request bodies over the configured size with a JSON 413, before reading them.

Starlette's own limiter answers 413 in plain text whenever the declared Content-Length is too
large, overriding the JSON error handlers; this one answers in JSON: at once when the
declared length is over the limit, and as soon as a streamed (chunked) body passes it.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def too_large_detail(max_bytes: int) -> str:
    return (
        f"The request body is larger than the limit of {max_bytes:,} bytes: send a smaller body "
        f"(the server's limit is set by D2L_MAX_BODY_BYTES)"
    )


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response = JSONResponse({"detail": too_large_detail(self.max_bytes)}, status_code=413)
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the endpoint's body read; the JSON error handler answers it.
                    raise HTTPException(413, too_large_detail(self.max_bytes))
            return message

        await self.app(scope, limited_receive, send)
