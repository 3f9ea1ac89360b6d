"""Base classes and parts shared by the schemas."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# Validate JSON values as the schema reads: strict types (no `true` for a number, no "1" for 1)
# and no NaN or Infinity, which Python's JSON parser would otherwise let through.
STRICT_JSON = ConfigDict(allow_inf_nan=False, strict=True)


class FieldError(BaseModel):
    """One invalid part of a request (FastAPI's validation error item)."""

    loc: list[str | int] = Field(description='Where: e.g. ["body", "boxes1"] or ["query", "k"].')
    msg: str = Field(description="What is wrong with it and how to fix it.")
    type: str = Field(description="A machine-readable kind, e.g. missing or value_error.")


class ErrorMessage(BaseModel):
    """Every error answer (4xx and 5xx) has this shape: ``detail`` is always one sentence."""

    detail: str = Field(description="What was wrong and how to fix it, in plain words.")
    errors: list[FieldError] | None = Field(
        default=None, description="422 only: each invalid part of the request."
    )
    suggestions: list[str] | None = Field(
        default=None, description="404 of an unknown word only: close spellings in the vocabulary."
    )


# Errors any endpoint with a body can answer besides 422, for the OpenAPI schema.
BODY_ERRORS: dict[int | str, dict] = {
    400: {"model": ErrorMessage, "description": "The body is not UTF-8."},
    408: {
        "model": ErrorMessage,
        "description": "The body took longer than D2L_HTTP_BODY_TIMEOUT_S, or paused longer "
        "than D2L_HTTP_BODY_IDLE_TIMEOUT_S.",
    },
    413: {"model": ErrorMessage, "description": "The body is over D2L_MAX_BODY_BYTES."},
    429: {
        "model": ErrorMessage,
        "description": "This client already has D2L_MAX_BODIES_ARRIVING_PER_CLIENT bodies "
        "arriving (Retry-After says when to retry).",
    },
}


class RequestModel(BaseModel):
    """A JSON request body: strict values, and unknown fields refused (usually typos)."""

    model_config = ConfigDict(**STRICT_JSON, extra="forbid")


class ImageSize(BaseModel):
    width: int
    height: int
