"""Starting and cancelling training jobs: checked against the data set, the base model and
the names already served before anything is queued."""

from __future__ import annotations

import time
from typing import Any

from app.core.config import Settings
from app.core.errors import ServiceError
from app.training.queue import enqueue, revoke
from app.training.recipes import BASE_DEFAULTS
from app.training.store import ENDED, Store, new_id
from app.training.versions import find_base
from models.manifest import read_manifest
from models.train.config import TrainingError


class JobError(ServiceError):
    """A job that cannot be started (422), a missing job or set (404), a conflict (409)."""

    def __init__(self, message: str, status_code: int = 422, field: str | None = None) -> None:
        loc = ("body", field) if field else None
        super().__init__(message, status_code=status_code, loc=loc)


def create_job(store: Store, settings: Settings, request: dict[str, Any]) -> dict[str, Any]:
    """Record and queue a job; its row."""
    dataset = store.dataset(request["dataset"])
    if dataset is None:
        raise JobError("there is no data set with that id: GET /datasets lists them", 404)
    task = dataset["task"]
    base = request["base_model"]
    if base == "default":
        base = BASE_DEFAULTS[task]
    name = request["model_name"]
    if name in {entry.name for entry in read_manifest(settings.manifest_path)}:
        raise JobError(
            f"{name!r} is a model of the manifest: choose another model_name", field="model_name"
        )
    taken = store.versions(name)
    if taken and taken[0]["task"] != task:
        raise JobError(
            f"{name!r} names {taken[0]['task']} models: choose another model_name for a "
            f"{task} model",
            field="model_name",
        )
    if base is not None:
        if task == "word2vec":
            raise JobError("word2vec trains from scratch: leave base_model out", field="base_model")
        try:
            entry = find_base(settings, store, base)
        except TrainingError as error:
            raise JobError(str(error), field="base_model") from None
        if entry is not None and entry.task != task:
            raise JobError(
                f"{base!r} is a {entry.task} model, and the set is for {task}",
                field="base_model",
            )
    options = {k: v for k, v in request.items() if k not in {"dataset", "base_model", "model_name"}}
    job = store.add_job(
        {
            "id": new_id("job"),
            "dataset": dataset["id"],
            "task": task,
            "base_model": base,
            "model_name": name,
            "options": options,
        }
    )
    store.update_job(job["id"], queue_id=enqueue(store.root, job["id"]))
    return store.job(job["id"]) or job


def cancel_job(store: Store, job_id: str) -> dict[str, Any]:
    """Cancel a job: a queued one at once, a running one once its process has stopped (within
    seconds: ``cancelling`` until then). Raises 404, or 409 once it has ended."""
    job = store.job(job_id)
    if job is None:
        raise JobError("there is no training job with that id: GET /training-jobs", 404)
    if store.update_job(job_id, state="cancelled", finished=time.time(), expect=("queued",)):
        revoke(store.root, job["queue_id"])
    elif not store.update_job(job_id, state="cancelling", expect=("running", "cancelling")):
        ended = store.job(job_id) or job
        if ended["state"] in ENDED:
            raise JobError(f"the job has already ended ({ended['state']})", 409)
    return store.job(job_id) or job
