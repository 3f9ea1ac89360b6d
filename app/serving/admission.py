"""Admission before work, on the FastAPI side.

FastAPI reads and parses a request's body before it runs any dependency, so a dependency cannot
refuse a request cheaply. The route classes here run first: once the path is matched, before
the body is read, they take the request's slot of its model's (or the geometry pool's) capacity,
or answer 404/503 at once. A flood of requests then costs a header parse each, and the cores
stay with the requests already taken in.

``admitted_route`` also gives JSON bodies a parser that runs in the geometry pool, off the event
loop (FastAPI's ``json.loads`` of a large body would block every other request meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Query, Request, Response
from fastapi.routing import APIRoute

from app.serving.capacity import Capacity, Ticket
from app.serving.intake import image_route_errors
from app.serving.registry import ServedModel, TaskT
from app.serving.tasks.base import ServedTask

T = TypeVar("T")
Admit = Callable[[Request], Ticket]


class WorkPool:
    """A few threads, apart from the image models', for heavy requests that are not batched
    (geometry), with a capacity: at most ``capacity`` requests taken in, the rest refused.

    On Linux the threads run at a lower CPU priority (``nice``): when the image models and
    geometry both want the cores, the models get them, and geometry uses what is left.
    """

    def __init__(
        self, name: str, workers: int, capacity: int, setting: str, niceness: int = 10
    ) -> None:
        self.executor = ThreadPoolExecutor(
            workers, thread_name_prefix=name, initializer=_lower_priority, initargs=(niceness,)
        )
        self.capacity = Capacity(f"the {name} workers", capacity, "requests", setting)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` on a pool thread, with the caller's context (request id)."""
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, context.run, function, *args)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=False)


def _lower_priority(niceness: int) -> None:
    """Raise the calling thread's nice value (Linux schedules threads one by one; threads it
    starts, such as torch's OpenMP workers, inherit it). Elsewhere, a no-op."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)


class PooledJSONRequest(Request):
    """A request whose JSON body is parsed on the geometry pool's threads."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            pool: WorkPool = self.app.state.geometry
            self._json = await pool.run(json.loads, body)
        return self._json


def admitted_route(admit: Admit, pooled_json: bool = False) -> type[APIRoute]:
    """A route class whose requests first pass ``admit(request)``, which raises (404, 503)
    or returns the request's ticket, released once the answer is ready."""

    class AdmittedRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Any]:
            handler = super().get_route_handler()

            async def admitted(request: Request) -> Response:
                ticket = admit(request)
                request.state.ticket = ticket
                if pooled_json:
                    request = PooledJSONRequest(request.scope, request.receive)
                try:
                    return await handler(request)
                finally:
                    ticket.release()

            return admitted

    return AdmittedRoute


def requested_model(request: Request, task: type[ServedTask]) -> str:
    """The model a request names in its ``model`` query parameter, else the task's default."""
    settings = request.app.state.settings
    return request.query_params.get("model") or settings.default_model(task.kind)


def model_admission(task: type[ServedTask]) -> Admit:
    """Admit a request to the model of ``task`` it asks for: one image now; batch endpoints
    reserve the rest once they know how many images they got (:meth:`Ticket.reserve`)."""

    def admit(request: Request) -> Ticket:
        served = request.app.state.registry.get(requested_model(request, task), task)
        ticket = served.admit(1)
        request.state.served = served
        return ticket

    return admit


@dataclass(frozen=True)
class ModelInUse(Generic[TaskT]):
    """The model a request runs on: its name, the served task (typed: a router gets its own
    task class), and the capacity the request holds on it, if it was admitted."""

    name: str
    served: ServedModel[TaskT]
    ticket: Ticket | None = None

    @property
    def task(self) -> TaskT:
        return self.served.task

    def reserve(self, images: int) -> None:
        """Hold capacity for ``images`` (503 when they do not fit), before decoding them."""
        if self.ticket is not None:
            self.ticket.reserve(images)

    async def run(self, jobs: Sequence[Any]) -> list[Any]:
        """The task's results for ``jobs``, through the model's batcher."""
        return await self.served.run(jobs)


def model_dependency(task: type[TaskT]) -> Callable[..., Any]:
    """The dependency that gives a route its :class:`ModelInUse` of ``task``: the model its
    route class admitted the request to, or (tasks without a batcher, not admitted) the one
    its ``model`` query parameter names."""

    async def get_model(request: Request, model: str | None = None) -> ModelInUse[TaskT]:
        name = model or request.app.state.settings.default_model(task.kind)
        served = getattr(request.state, "served", None)
        if served is None:
            served = request.app.state.registry.get(name, task)
        return ModelInUse(name, served, getattr(request.state, "ticket", None))

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
        route_class=admitted_route(model_admission(task)),
    )


def pool_admission(request: Request) -> Ticket:
    """Admit a request to the geometry pool."""
    pool: WorkPool = request.app.state.geometry
    return pool.capacity.admit(1)
