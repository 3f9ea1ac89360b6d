"""Admission, on the FastAPI side: refused before the body, taken in after it.

FastAPI reads and parses a request's body before it runs any dependency, so a dependency cannot
refuse a request cheaply. The route classes here run first: once the path is matched, before
the body is read, they check the request's model (or the geometry pool) and answer 404/503 at
once when it is unknown, not ready or full: a flood of requests costs a header parse each. The
request takes its slot of that capacity only once its body has arrived (the model dependency for
uploads, the JSON parser for geometry), so slow or stalled senders hold none of it; bodies still
arriving are bounded on their own (``app.middleware.body_limit``). The slot is given back when
the answer is ready.

``admitted_route`` also gives JSON bodies a parser that runs in the geometry pool, off the event
loop (FastAPI's ``json.loads`` of a large body would block every other request meanwhile).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request, Response
from fastapi.routing import APIRoute

from app.serving.capacity import QueueFullError, Ticket
from app.serving.deps import get_geometry_pool, get_memory, get_registry
from app.serving.intake import image_route_errors
from app.serving.served import ServedModel, TaskT
from app.serving.tasks.base import ServedTask

T = TypeVar("T")
Check = Callable[[Request], None]


class PooledJSONRequest(Request):
    """A request whose JSON body, once it has arrived, takes its slot of the geometry pool and
    is parsed on the pool's threads (:func:`parse_json`)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            pool = get_geometry_pool(self)
            try:
                hold(self, pool.capacity.admit(1))
            except QueueFullError as error:  # FastAPI passes only HTTP errors on from here
                raise error.as_http_exception(self.scope) from None
            self._json = await pool.run(parse_json, body)
        return self._json


def parse_json(body: bytes) -> Any:
    """A JSON body as RFC 8259 has it: UTF-8 (a byte-order mark is skipped), else
    :class:`UnicodeDecodeError` (400); a document Python cannot hold, such as an integer of
    over 4,300 digits, is a :class:`json.JSONDecodeError` (422) like any invalid JSON."""
    text = body.decode("utf-8-sig")  # json.loads(bytes) would also take UTF-16 and UTF-32
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except ValueError:  # int() refuses integers of more than sys.get_int_max_str_digits()
        digits = sys.get_int_max_str_digits()
        found = re.search(rf"\d{{{digits + 1},}}", text)
        where = found.start() if found else 0
        raise json.JSONDecodeError(
            f"an integer of more than {digits:,} digits", text, where
        ) from None


def hold(request: Request, ticket: Ticket) -> None:
    """Keep ``ticket`` until the request's answer is ready (:func:`admitted_route`)."""
    request.state.tickets = [*getattr(request.state, "tickets", []), ticket]


def admitted_route(check: Check, pooled_json: bool = False) -> type[APIRoute]:
    """A route class whose requests first pass ``check(request)``, which raises (404, 503) or
    returns; the tickets the request holds by the end (:func:`hold`) are released once the
    answer is ready, and the service's idle memory release knows it was busy meanwhile."""

    class AdmittedRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Any]:
            handler = super().get_route_handler()

            async def admitted(request: Request) -> Response:
                check(request)
                if pooled_json:
                    request = PooledJSONRequest(request.scope, request.receive)
                memory = get_memory(request)
                memory.begin()
                try:
                    return await handler(request)
                finally:
                    for ticket in getattr(request.state, "tickets", []):
                        ticket.release()
                    memory.end()

            return admitted

    return AdmittedRoute


def requested_model(request: Request, task: type[ServedTask]) -> str | None:
    """The model a request names in its ``model`` query parameter, else the task's default
    (None: the task has none)."""
    return request.query_params.get("model") or get_registry(request).default_model(task.kind)


def model_check(task: type[ServedTask]) -> Check:
    """Refuse a request at once when the model of ``task`` it asks for is unknown (404), not
    ready or has no room for one more image now (503)."""

    def check(request: Request) -> None:
        served = get_registry(request).get(requested_model(request, task), task)
        served.check_room(1)

    return check


MODEL_TICKET = "model_ticket"  # the request's state: what it holds of its model's capacity


def reserve_images(request: Request, images: int) -> None:
    """Hold capacity for ``images`` of the request's model in all (a batch request learns its
    size from its body; 503 when they do not fit), before they are decoded."""
    ticket: Ticket | None = getattr(request.state, MODEL_TICKET, None)
    if ticket is not None:
        ticket.reserve(images)


def model_dependency(task: type[TaskT]) -> Callable[..., Any]:
    """The dependency that gives a route the :class:`ServedModel` of ``task`` its ``model``
    query parameter names, looked up now that the body has arrived (a reload since the
    route's check is seen), with one image's slot of its capacity taken (batched tasks) until
    the answer is ready (:func:`reserve_images` takes more)."""

    async def get_model(request: Request, model: str | None = None) -> ServedModel[TaskT]:
        served = get_registry(request).get(model, task)
        if served.batcher is not None:
            ticket = served.admit(1)
            hold(request, ticket)
            setattr(request.state, MODEL_TICKET, ticket)
        return served

    # The parameter's documentation names the task; set as an object, since this module's
    # string annotations cannot see the factory's arguments.
    get_model.__annotations__["model"] = Annotated[
        str | None, Query(description=f"A {task.title} model from /models.")
    ]
    return get_model


def image_task_router(task: type[ServedTask], tag: str) -> APIRouter:
    """The router of a task's image endpoints: each request takes its model's capacity before
    the upload is read (or gets 404/503 at once); the upload errors are documented."""
    return APIRouter(
        tags=[tag],
        responses=image_route_errors(task.title),
        route_class=admitted_route(model_check(task)),
    )


def pool_check(request: Request) -> None:
    """Refuse a request at once when the geometry pool has no room for it now (503)."""
    get_geometry_pool(request).capacity.check(1)
