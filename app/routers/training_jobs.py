"""``/training-jobs``: start a job on an uploaded set, watch it (JSON or Server-Sent Events),
cancel it; ``/models/{name}/versions``: what jobs registered. Needs X-Admin-Key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from app.core.deps import SettingsDep
from app.routers.datasets import ADMIN_ERRORS
from app.schemas.common import ErrorMessage
from app.schemas.training import Job, JobList, JobRequest, ModelVersion, ModelVersionList
from app.serving.deps import RegistryDep
from app.training.deps import StoreDep
from app.training.jobs import JobError, cancel_job, create_job
from app.training.store import ENDED
from app.training.versions import remove_version_files, version_name

router = APIRouter(tags=["training"])
NOT_FOUND = {404: {"model": ErrorMessage, "description": "No such job."}}
WATCH_EVERY_S = 0.5
ERROR_SCHEMA = "#/components/schemas/ErrorMessage"


@router.post(
    "/training-jobs",
    status_code=202,
    summary="Start a training job",
    description="Queues a job that fine-tunes `base_model` (or trains from scratch) on an "
    "uploaded set and, when it succeeds, serves the result as `model_name` version N at "
    "once. One job runs at a time per trainer; the others wait in the queue.",
    responses={**ADMIN_ERRORS, 404: {"model": ErrorMessage, "description": "No such set."}},
)
async def start_job(
    body: JobRequest, store: StoreDep, settings: SettingsDep, request: Request
) -> Job:
    row = await asyncio.to_thread(create_job, store, settings, body.model_dump())
    request.app.state.training.ensure_trainer()
    return Job.from_row(row)


@router.get("/training-jobs", summary="Every training job", responses=ADMIN_ERRORS)
async def list_jobs(store: StoreDep) -> JobList:
    rows = await asyncio.to_thread(store.jobs)
    return JobList(jobs=[Job.from_row(row) for row in rows])


@router.get(
    "/training-jobs/{job_id}", summary="A job: state, progress, evaluation",
    responses={**ADMIN_ERRORS, **NOT_FOUND},
)  # fmt: skip
async def get_job(job_id: str, store: StoreDep) -> Job:
    row = await asyncio.to_thread(store.job, job_id)
    if row is None:
        raise JobError("there is no training job with that id: GET /training-jobs", 404)
    return Job.from_row(row)


@router.get(
    "/training-jobs/{job_id}/events",
    response_class=EventSourceResponse,
    summary="A job's state and progress as Server-Sent Events",
    description="One `job` event (the same JSON as GET /training-jobs/{id}) now and at every "
    "change, until the job has ended.",
    # The errors are JSON, not events: said so, or the stream's media type would be assumed.
    responses={
        code: {
            "description": error["description"],
            "content": {"application/json": {"schema": {"$ref": ERROR_SCHEMA}}},
        }
        for code, error in {**ADMIN_ERRORS, **NOT_FOUND}.items()
    },
)
async def job_events(job_id: str, store: StoreDep) -> AsyncIterator[ServerSentEvent]:
    if await asyncio.to_thread(store.job, job_id) is None:
        raise JobError("there is no training job with that id: GET /training-jobs", 404)
    last = None
    while True:
        row = await asyncio.to_thread(store.job, job_id)
        if row is None:
            return
        job = Job.from_row(row)
        shown = job.model_dump_json()
        if shown != last:
            last = shown
            yield ServerSentEvent(data=job, event="job")
        if job.state in ENDED:
            return
        await asyncio.sleep(WATCH_EVERY_S)


@router.post(
    "/training-jobs/{job_id}/cancel",
    status_code=202,
    summary="Cancel a job",
    description="A queued job is cancelled at once; a running one stops within seconds "
    "(`cancelling`, then `cancelled`). 409 once the job has ended.",
    responses={**ADMIN_ERRORS, **NOT_FOUND, 409: {"model": ErrorMessage, "description": "Ended."}},
)
async def cancel(job_id: str, store: StoreDep) -> Job:
    return Job.from_row(await asyncio.to_thread(cancel_job, store, job_id))


@router.get(
    "/models/{name}/versions",
    summary="The versions jobs trained of a model",
    responses=ADMIN_ERRORS,
)
async def list_versions(name: str, store: StoreDep, registry: RegistryDep) -> ModelVersionList:
    rows = await asyncio.to_thread(store.versions, name)
    served = {model.name: model for model in registry.models}
    versions = []
    for row in rows:
        key = version_name(row["name"], row["version"])
        model = served.get(key)
        versions.append(
            ModelVersion(
                name=row["name"],
                version=row["version"],
                served_as=key,
                task=row["task"],
                sha256=row["sha256"],
                dataset=row["dataset"],
                job=row["job"],
                created=row["created"],
                state=model.state.value if model else "loading",
                metrics=row["entry"].get("metrics", {}),
            )
        )
    return ModelVersionList(versions=versions)


@router.delete(
    "/models/{name}/versions/{version}",
    status_code=204,
    summary="Delete a trained version",
    description="It stops being served (on every replica within a second or two) and its "
    "files are removed.",
    responses={**ADMIN_ERRORS, 404: {"model": ErrorMessage, "description": "No such version."}},
)
async def delete_version(
    name: str, version: int, store: StoreDep, registry: RegistryDep
) -> Response:
    if not await asyncio.to_thread(store.delete_version, name, version):
        raise JobError(f"{name!r} has no version {version}: GET /models/{{name}}/versions", 404)
    await registry.remove(version_name(name, version))
    await asyncio.to_thread(remove_version_files, store, name, version)
    return Response(status_code=204)
