"""Schemas of the health and model-listing endpoints."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class LiveStatus(BaseModel):
    status: Literal["ok"] = "ok"


class ModelStatus(BaseModel):
    name: str
    task: str
    state: Literal["loading", "ready", "failed"]
    reason: str | None = Field(default=None, description="Why the model failed to load.")


class ReadyStatus(BaseModel):
    status: Literal["ready", "not_ready"]
    device: str = Field(description="Where the models run, e.g. cpu or cuda:0 (NVIDIA H100).")
    models: list[ModelStatus]
