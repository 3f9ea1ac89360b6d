"""What the ``/geometry`` routers share: the pool they run on, float64 tensors from JSON with
their caps checked before allocation, and finite results back to JSON."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from fastapi import APIRouter, Response
from pydantic import BaseModel
from torch import Tensor

from app.schemas.common import BODY_ERRORS, ErrorMessage
from app.serving.admission import admitted_route, pool_check
from app.serving.deps import GeometryPoolDep
from app.serving.workpool import WorkPool
from models import ops
from models.errors import InvalidInputError


def geometry_router() -> APIRouter:
    """A ``/geometry`` router whose requests are refused before their body is read when the
    geometry pool is full, take their slot of it once the body has arrived, and have their JSON
    parsed on the pool's threads."""
    return APIRouter(
        prefix="/geometry",
        tags=["geometry"],
        responses={
            **BODY_ERRORS,
            503: {
                "model": ErrorMessage,
                "description": "The geometry workers are at capacity "
                "(Retry-After says when to retry).",
            },
        },
        route_class=admitted_route(pool_check, pooled_json=True),
    )


DTYPE = torch.float64  # JSON numbers are doubles: compute in double so inputs stay exact


GeometryPool = GeometryPoolDep


async def answer(pool: WorkPool, compute: Callable[..., BaseModel], *args: object) -> Response:
    """``compute(*args)`` on the pool, encoded to JSON there too (a large answer, such as 4
    million IoUs, takes a while to encode)."""

    def encoded() -> Response:
        return Response(compute(*args).model_dump_json(), media_type="application/json")

    return await pool.run(encoded)


def boxes_tensor(
    values: list[list[float]], name: str, fmt: str = "xyxy", allow_empty: bool = True
) -> Tensor:
    boxes = torch.tensor(values, dtype=DTYPE).reshape(-1, 4)
    ops.check_boxes(boxes, name, fmt, allow_empty=allow_empty)
    return boxes


def dense_tensor(values: list, name: str, max_elements: int) -> Tensor:
    """A nested list as a tensor; its size is checked from the first elements before any
    allocation, and a ragged list is refused."""
    shape: list[int] = []
    level: object = values
    while isinstance(level, list):
        shape.append(len(level))
        level = level[0] if level else None
    if math.prod(shape) == 0:
        raise InvalidInputError(f"{name} must not be empty", name)
    if math.prod(shape) > max_elements:
        raise InvalidInputError(
            f"{name} holds {math.prod(shape):,} numbers, over the cap of {max_elements:,}", name
        )
    try:
        return torch.tensor(values, dtype=DTYPE)
    except (ValueError, TypeError) as error:
        raise InvalidInputError(
            f"{name} must be a rectangular array (every row the same length): {error}", name
        ) from None


def finite_numbers(tensor: Tensor, name: str) -> list:
    """A float result as nested lists; results that overflowed double precision are refused
    here, since JSON has no Infinity (finite inputs near 1e308 can still overflow)."""
    if not bool(torch.isfinite(tensor).all()):
        raise InvalidInputError(
            f"{name} overflowed to a non-finite value: the inputs are too large in magnitude",
            name,
        )
    return tensor.tolist()
