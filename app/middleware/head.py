"""``HEAD`` for every ``GET`` route: the same status and headers as ``GET``, no body (RFC 9110,
9.3.2). Starlette's routes answer ``HEAD`` themselves; FastAPI's only allow the methods they
declare, which would make ``HEAD /models`` a 405 (and load balancers' and link checkers'
probes fail)."""

from __future__ import annotations

from starlette.routing import Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGetMiddleware:
    def __init__(self, app: ASGIApp, router: Router) -> None:
        self.app = app
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        as_get = {**scope, "method": "GET"}
        if not any(route.matches(as_get)[0] is Match.FULL for route in self.router.routes):
            await self.app(scope, receive, send)  # no GET here either: 404 or 405 as usual
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app(as_get, receive, without_body)
