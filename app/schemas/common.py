"""Base classes and parts shared by the schemas."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# Validate JSON values as the schema reads: strict types (no `true` for a number, no "1" for 1)
# and no NaN or Infinity, which Python's JSON parser would otherwise let through.
STRICT_JSON = ConfigDict(allow_inf_nan=False, strict=True)


class ErrorMessage(BaseModel):
    detail: str


# Errors any endpoint with a JSON body can answer besides 422, for the OpenAPI schema.
BODY_ERRORS: dict[int | str, dict] = {
    400: {"model": ErrorMessage, "description": "The body is not UTF-8."},
    413: {"model": ErrorMessage, "description": "The body is over D2L_MAX_BODY_BYTES."},
}


class RequestModel(BaseModel):
    """A JSON request body: strict values, and unknown fields refused (usually typos)."""

    model_config = ConfigDict(**STRICT_JSON, extra="forbid")


class ImageSize(BaseModel):
    width: int
    height: int
