"""Request ids, request logs and request metrics.

Every request gets an id: the client's ``X-Request-ID`` when it sends a sensible one, else a new
one; it is echoed in the response and attached to every log line written while the request is
served. Each request is logged once (method, route, status, duration; successful probes and
scrapes at debug) and counted in the
metrics by its route template. An error no handler took (a bug) is logged here, with its trace
and the request id, and answered with a plain 500 that carries the id but not the trace.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import INTERNAL_ERROR
from app.core.logging import request_id
from app.core.metrics import ServiceMetrics

REQUEST_ID_HEADER = "X-Request-ID"
# Ids from clients are echoed into headers and logs: keep them short and plain.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

logger = logging.getLogger("app.requests")
errors_logger = logging.getLogger("app.core.errors")
# Orchestrators' probes and Prometheus' scrapes: routine, so not logged at info.
QUIET_ROUTES = frozenset({"/health/live", "/health/ready", "/metrics"})


class RequestObservationMiddleware:
    """Request id in and out, one log line and the metrics for each HTTP request."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = sent if _VALID_REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
        token = request_id.set(rid)
        status = 500  # unless a response starts
        started = time.perf_counter()
        responding = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, responding
            if message["type"] == "http.response.start":
                status, responding = message["status"], True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:  # a bug: logged here, where the request id is known
            errors_logger.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if responding:
                raise  # the answer had begun: the server can only drop the connection
            await JSONResponse({"detail": INTERNAL_ERROR}, status_code=500)(
                scope, receive, send_with_id
            )
        finally:
            seconds = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe_request(route, scope["method"], status, seconds)
            # Probes and scrapes come every few seconds: logged at debug while they succeed.
            quiet = route in QUIET_ROUTES and status < 400
            logger.log(
                logging.DEBUG if quiet else logging.INFO,
                "%s %s %d",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                },
            )
            request_id.reset(token)
