"""401/403 from the headers alone: API and admin keys are checked before routing and before a
body is read, so a client without a key costs a header parse."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.security import (
    ADMIN_OFF,
    ADMIN_PATH,
    CHALLENGE,
    MISSING_ADMIN_KEY,
    MISSING_KEY,
    WRONG_ADMIN_KEY,
    WRONG_KEY,
    is_open,
    key_problem,
)


class AccessMiddleware:
    """401/403 from the headers alone, before routing and before the body is read."""

    def __init__(self, app: ASGIApp, api_key: str | None, admin_key: str | None) -> None:
        self.app = app
        self.api_key = api_key
        self.admin_key = admin_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        if ADMIN_PATH.fullmatch(scope["path"]):
            if self.admin_key is None:
                await JSONResponse({"detail": ADMIN_OFF}, status_code=403)(scope, receive, send)
                return
            guard = (b"x-admin-key", self.admin_key, MISSING_ADMIN_KEY, WRONG_ADMIN_KEY)
        else:
            guard = (b"x-api-key", self.api_key, MISSING_KEY, WRONG_KEY)
        header, expected, missing, wrong = guard
        sent = dict(scope["headers"]).get(header)
        problem = key_problem(
            None if sent is None else sent.decode("latin-1"), expected, missing, wrong
        )
        if problem is not None:
            response = JSONResponse({"detail": problem}, status_code=401, headers=CHALLENGE)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
