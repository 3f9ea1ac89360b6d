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


class BatchingInfo(BaseModel):
    max_batch_size: int = Field(description="Most images in one forward pass.")
    max_wait_ms: float = Field(description="Longest wait for a batch to fill.")
    max_queue: int = Field(description="Most images taken in at once; beyond it requests get 503.")
    max_queue_wait_s: float | None = Field(
        default=None, description="Most seconds of work taken in; beyond it requests get 503."
    )


class ModelInfo(ModelStatus):
    architecture: str | None = Field(default=None, description="e.g. resnet18, tinyssd, skipgram.")
    classes: list[str] | None = Field(default=None, description="Class names, by class id.")
    input_size: int | None = Field(
        default=None, description="Side of the square image input, in pixels."
    )
    device: str = Field(description="Where the model runs.")
    dtype: str | None = Field(default=None, description="Floating-point type it computes in.")
    batching: BatchingInfo | None = Field(
        default=None, description="Dynamic batching of an image model; none for word2vec."
    )
    metrics: dict[str, float] = Field(
        default_factory=dict, description="Figures measured when it was trained."
    )
    sha256: str = Field(description="SHA-256 of the weights file.")


class ModelList(BaseModel):
    models: list[ModelInfo]
