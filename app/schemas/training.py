"""Data sets, training jobs and model versions, as the operator's endpoints answer them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TrainTask = Literal["classify", "detect", "word2vec"]


def timestamp(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


class Dataset(BaseModel):
    """An uploaded set, checked and stored in the layout its task trains on."""

    id: str
    name: str
    task: TrainTask
    state: Literal["ready"] = Field(description="Sets are recorded once checked: always ready.")
    created: datetime
    summary: dict[str, Any] = Field(
        description="What the set holds: classes, counts per class (and split), image sizes, "
        "files skipped and why; for text, sentences, tokens and vocabulary."
    )

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Dataset:
        return cls(**{**row, "created": timestamp(row["created"])})


class DatasetList(BaseModel):
    datasets: list[Dataset]


JobState = Literal["queued", "running", "succeeded", "failed", "cancelling", "cancelled"]
MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class JobRequest(BaseModel):
    """A training job: the data set, where to start from, the name to serve the result as, and
    the recipe's options (each has a default that works)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"dataset": "ds_0123456789abcdef", "base_model": "resnet18-cifar10",
                 "model_name": "my-products", "epochs": 20}
            ]
        },
    )  # fmt: skip

    dataset: str = Field(description="The id of an uploaded data set (POST /datasets).")
    base_model: str | None = Field(
        default="default",
        description="What to start from: a served model (or a trained version, NAME@N) of the "
        "set's task; null trains from scratch. Default: resnet18-cifar10 for classify (new "
        "head, Xavier init, 10x head learning rate, as the book), tinyssd-logo for detect "
        "(the class heads anew for the set's classes), scratch for word2vec.",
    )
    model_name: str = Field(pattern=MODEL_NAME, description="Served as NAME@N, newest as NAME.")
    epochs: int | None = Field(default=None, ge=1, le=500)
    lr: float | None = Field(default=None, gt=0, le=10)
    batch_size: int | None = Field(default=None, ge=1, le=4096)
    input_size: int | None = Field(default=None, ge=16, le=1024)
    head_lr_ratio: float = Field(
        default=10.0, gt=0, le=1000, description="classify: the new head's learning rate over "
        "the body's (d2l: 10)."
    )  # fmt: skip
    val_fraction: float = Field(
        default=0.2, gt=0, lt=1, description="Held out for evaluation when the set has no val/."
    )
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    arch: Literal["skipgram", "cbow"] | None = Field(default=None, description="word2vec only.")
    min_count: int | None = Field(
        default=None, ge=1, le=1000, description="word2vec: words seen fewer times are left out."
    )


class JobProgress(BaseModel):
    epoch: int | None = None
    epochs: int | None = None
    fraction: float | None = None
    loss: float | None = None
    metric: float | None = Field(default=None, description="The last finished epoch's.")
    eta_s: float | None = None


class VersionRef(BaseModel):
    name: str
    version: int


class Job(BaseModel):
    id: str
    state: JobState
    dataset: str
    task: TrainTask
    base_model: str | None
    model_name: str
    options: dict[str, Any]
    progress: JobProgress
    history: list[dict[str, Any]] = Field(
        description="One point per finished epoch: epoch, training loss, metric (the curve)."
    )
    model: VersionRef | None = Field(description="The version it registered, once succeeded.")
    evaluation: dict[str, Any] | None = Field(description="On the held-out split.")
    error: str | None
    created: datetime
    started: datetime | None
    finished: datetime | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Job:
        version = row.get("model_version")
        return cls(
            **{k: v for k, v in row.items() if k not in {"model_version", "queue_id"}}
            | {
                "model": VersionRef(name=row["model_name"], version=version) if version else None,
                "created": timestamp(row["created"]),
                "started": timestamp(row["started"]),
                "finished": timestamp(row["finished"]),
            }
        )


class JobList(BaseModel):
    jobs: list[Job]


class ModelVersion(BaseModel):
    name: str
    version: int
    served_as: str = Field(description="The model= value that asks for this version.")
    task: TrainTask
    sha256: str
    dataset: str
    job: str
    created: datetime
    state: str = Field(description="loading, ready or failed on this replica.")
    metrics: dict[str, Any]


class ModelVersionList(BaseModel):
    versions: list[ModelVersion]
