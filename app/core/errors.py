"""One place that turns errors into JSON answers ``{"detail": ...}``, never a stack trace.

Every answer has one shape, ``ErrorMessage`` (``app/schemas/common.py``): ``detail`` is always a
sentence; a 422 adds ``errors``, FastAPI's list of ``{loc, msg, type}``, and an unknown word's
404 adds ``suggestions``. Messages say how to fix the request without echoing the input back: a
piece of the request an error must name (a path, a field or model name) is cut to 64
characters.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.middleware.observability import INTERNAL_ERROR
from app.schemas.geometry.common import bound_message
from app.serving.batcher import BatcherClosedError, ItemFailedError, QueueTimeoutError
from app.serving.capacity import QueueFullError
from app.serving.intake import ImageError
from app.serving.registry import (
    ModelNotFoundError,
    ModelState,
    ModelUnavailableError,
    ReloadError,
    ReloadInProgressError,
    clip,
)
from models.errors import InvalidInputError
from models.text.word_vectors import UnknownWordError

logger = logging.getLogger(__name__)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(InvalidInputError, _invalid_input)
    app.add_exception_handler(UnknownWordError, _unknown_word)
    app.add_exception_handler(ImageError, _bad_image)
    app.add_exception_handler(ModelNotFoundError, _model_not_found)
    app.add_exception_handler(ModelUnavailableError, _model_unavailable)
    app.add_exception_handler(QueueFullError, _queue_full)
    app.add_exception_handler(BatcherClosedError, _batcher_closed)
    app.add_exception_handler(QueueTimeoutError, _queue_timeout)
    app.add_exception_handler(ItemFailedError, _item_failed)
    app.add_exception_handler(ReloadInProgressError, _reload_in_progress)
    app.add_exception_handler(ReloadError, _reload_failed)
    app.add_exception_handler(Exception, _unexpected_error)


async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    detail: Any = error.detail
    path, method = clip(request.url.path), clip(request.method, 16)
    if error.status_code == 404 and detail == "Not Found":
        detail = (
            f"No endpoint at {method} {path}: the endpoints are listed at /docs and /openapi.json"
        )
    elif error.status_code == 400 and detail == "There was an error parsing the body":
        if isinstance(error.__cause__, RecursionError):
            message = (
                "The JSON body nests arrays or objects too deeply to be read (about 1,000 "
                "levels at most): send the shape the schema at /docs describes"
            )
            return invalid([{"loc": ["body"], "msg": message, "type": "json_too_deep"}])
        detail = (
            "The body could not be decoded: send JSON encoded as UTF-8 with "
            "Content-Type: application/json"
        )
    elif error.status_code == 405:
        allowed = (error.headers or {}).get("Allow", "")
        detail = f"{method} is not allowed on {path}; use {allowed}"
    return JSONResponse({"detail": detail}, status_code=error.status_code, headers=error.headers)


def invalid(items: list[dict[str, Any]]) -> JSONResponse:
    """A 422: the first problem as the sentence in ``detail``, every one in ``errors``."""
    first = items[0] if items else {"loc": [], "msg": "The request is not valid"}
    where = _place(first["loc"])
    named = not where or first["msg"].startswith(where.split("[")[0])  # it names its field
    detail = first["msg"] if named else f"{where}: {first['msg']}"
    if len(items) > 1:
        detail += f" (and {len(items) - 1} more: see errors)"
    return JSONResponse({"detail": detail, "errors": items}, status_code=422)


def _place(loc: list[Any]) -> str:
    """``["body", "boxes1", 0]`` as ``boxes1[0]``, ``["query", "k"]`` as ``k``."""
    place = ""
    for part in loc[1:]:
        place += f"[{part}]" if isinstance(part, int) else f".{part}" if place else str(part)
    return place


async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    return invalid([_describe(item) for item in error.errors()])


async def _invalid_input(request: Request, error: InvalidInputError) -> JSONResponse:
    loc = ["body", error.field] if error.field else ["body"]
    return invalid([{"loc": loc, "msg": str(error), "type": "value_error"}])


async def _bad_image(request: Request, error: ImageError) -> JSONResponse:
    if error.status_code == 422:
        return invalid([{"loc": ["body", "file"], "msg": str(error), "type": "value_error"}])
    return JSONResponse({"detail": str(error)}, status_code=error.status_code)


async def _unknown_word(request: Request, error: UnknownWordError) -> JSONResponse:
    return JSONResponse({"detail": str(error), "suggestions": error.suggestions}, status_code=404)


async def _model_not_found(request: Request, error: ModelNotFoundError) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=404)


async def _model_unavailable(request: Request, error: ModelUnavailableError) -> JSONResponse:
    # A model still loading will be there soon; a failed one needs an operator.
    headers = {"Retry-After": "5"} if error.state is ModelState.LOADING else None
    return JSONResponse({"detail": str(error)}, status_code=503, headers=headers)


async def _queue_full(request: Request, error: QueueFullError) -> JSONResponse:
    refusal = error.as_http_exception(request.scope)
    return JSONResponse({"detail": refusal.detail}, status_code=503, headers=refusal.headers)


async def _batcher_closed(request: Request, error: BatcherClosedError) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=503, headers={"Retry-After": "1"})


async def _queue_timeout(request: Request, error: QueueTimeoutError) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=504)


async def _item_failed(request: Request, error: ItemFailedError) -> JSONResponse:
    if error.out_of_memory:
        return JSONResponse({"detail": str(error)}, status_code=503, headers={"Retry-After": "1"})
    return invalid([{"loc": ["body"], "msg": str(error), "type": "model_input"}])


async def _reload_in_progress(request: Request, error: ReloadInProgressError) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=409)


async def _reload_failed(request: Request, error: ReloadError) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=422)


async def _unexpected_error(request: Request, error: Exception) -> JSONResponse:
    # A bug, not the client's fault. RequestObservationMiddleware logs and answers the app's
    # own; this answers one raised outside it (in an outer middleware).
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": INTERNAL_ERROR}, status_code=500)


def _describe(item: dict[str, Any]) -> dict[str, Any]:
    """One pydantic error as ``{loc, msg, type}``, with a clearer message where we can."""
    kind, msg = item.get("type", "value_error"), item.get("msg", "")
    # Field names in ``loc`` can be the client's own (unknown fields): cut them short.
    loc = [clip(part) if isinstance(part, str) else part for part in item.get("loc", ())]
    if kind == "json_invalid":
        reason = (item.get("ctx") or {}).get("error", "invalid JSON")
        position = loc[1] if len(loc) > 1 else "?"
        msg = (
            f"The body is not valid JSON ({reason} at character {position}): send a JSON "
            f"document with Content-Type: application/json"
        )
        loc = ["body"]
    elif loc == ["body"] and kind == "missing":
        msg = "A JSON request body is required: send one with Content-Type: application/json"
    elif loc == ["body"] and kind in {"model_attributes_type", "dict_type"}:
        msg = "The body must be a JSON object, sent with Content-Type: application/json"
    elif kind == "extra_forbidden":
        msg = f"Unknown field {loc[-1]!r}: remove it (see the schema at /docs)"

    elif kind in {"less_than_equal", "greater_than_equal"}:
        msg = bound_message(item)
    elif kind == "finite_number":
        msg = "Input should be a finite number: NaN and Infinity are not accepted"
    elif kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    return {"loc": loc, "msg": msg, "type": kind}
