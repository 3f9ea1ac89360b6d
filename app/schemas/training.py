"""Data sets, training jobs and model versions, as the operator's endpoints answer them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

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
