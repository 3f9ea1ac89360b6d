"""The training side's objects as the app holds them (``app.state``), as dependency aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.core.errors import ServiceError
from app.training.store import Store


class TrainingOffError(ServiceError):
    status_code = 503

    def __init__(self, problem: str) -> None:
        super().__init__(
            f"training is off on this server: {problem}; an operator sets D2L_STATE_DIR to a "
            "writable folder"
        )


def get_store(request: Request) -> Store:
    training = request.app.state.training
    if training.store is None:
        raise TrainingOffError(training.problem or "it has no state folder")
    return training.store


StoreDep = Annotated[Store, Depends(get_store)]
