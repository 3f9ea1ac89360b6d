"""Base classes shared by the request schemas."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RequestModel(BaseModel):
    """A JSON request body: unknown fields are refused (they are usually typos), and so are
    NaN and Infinity, which Python's JSON parser would otherwise let through."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
