"""One place that turns errors into JSON answers ``{"detail": ...}``, never a stack trace.

Every answer has one shape, ``ErrorMessage`` (``app/schemas/common.py``): ``detail`` is always a
sentence; a 422 adds ``errors``, FastAPI's list of ``{loc, msg, type}``, and an unknown word's
404 adds ``suggestions``. Messages say how to fix the request without echoing the input back: a
piece of the request an error must name (a path, a field or model name) is cut to 64
characters (:func:`clip`).

The service's own errors derive from :class:`ServiceError`, which carries its status and
headers: one handler answers them all. The model code's errors (``models.errors``, unknown
words) and FastAPI's and Starlette's have a handler each.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.schemas.geometry.common import bound_message
from models.errors import InvalidInputError
from models.text.word_vectors import UnknownWordError

logger = logging.getLogger(__name__)
INTERNAL_ERROR = "Internal error: the request could not be completed; it has been logged."
# A refusal for capacity records its Retry-After here, in the request's state: app.server
# then reads nothing more from that connection for that long (at most 1 s).
RETRY_AFTER_STATE = "retry_after_s"
NAME_ECHO_CHARS = 64  # longest piece of a client's input an error repeats


def clip(text: str, limit: int = NAME_ECHO_CHARS) -> str:
    """A client's input as errors may repeat it: at most ``limit`` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ServiceError(Exception):
    """An error of the service's own, answered with ``status_code`` and ``headers``.

    Args:
        detail: the sentence a client reads: what was wrong and how to fix it.
        status_code: the HTTP status (subclasses set their own).
        headers: e.g. ``Retry-After``.
        loc: for a 422, where the problem is (FastAPI's ``loc``): the answer then lists it in
            ``errors``; None answers ``detail`` alone.
        error_type: the ``type`` of that item.
        pause_s: a refusal for capacity: the connection is not read again for this long.
    """

    status_code: int = 500

    def __init__(
        self,
        detail: str,
        *,
        status_code: int | None = None,
        headers: Mapping[str, str] | None = None,
        loc: Sequence[str | int] | None = None,
        error_type: str = "value_error",
        pause_s: int | None = None,
    ) -> None:
        super().__init__(detail)
        if status_code is not None:
            self.status_code = status_code
        self.headers = dict(headers or {})
        self.loc = list(loc) if loc is not None else None
        self.error_type = error_type
        self.pause_s = pause_s


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(InvalidInputError, _invalid_input)
    app.add_exception_handler(UnknownWordError, _unknown_word)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(Exception, _unexpected_error)


async def _service_error(request: Request, error: ServiceError) -> JSONResponse:
    if error.pause_s:
        setattr(request.state, RETRY_AFTER_STATE, error.pause_s)
    if error.status_code == 422 and error.loc is not None:
        return invalid([{"loc": error.loc, "msg": str(error), "type": error.error_type}])
    return JSONResponse(
        {"detail": str(error)}, status_code=error.status_code, headers=error.headers or None
    )


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


async def _unknown_word(request: Request, error: UnknownWordError) -> JSONResponse:
    return JSONResponse({"detail": str(error), "suggestions": error.suggestions}, status_code=404)


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
