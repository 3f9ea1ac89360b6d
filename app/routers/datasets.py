"""``/datasets``: the operator uploads a data set (a zip, or text for word2vec), gets it back
checked and summarised, lists and deletes sets. Needs X-Admin-Key."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, File, Query, Response, UploadFile

from app.core.deps import SettingsDep
from app.core.errors import ServiceError
from app.schemas.common import ErrorMessage
from app.schemas.training import Dataset, DatasetList, TrainTask
from app.serving.intake import ImageLimits
from app.training.datasets import check_name, create_dataset, delete_dataset
from app.training.deps import StoreDep
from models.data.archives import ArchiveLimits

router = APIRouter(tags=["training"])

ADMIN_ERRORS: dict[int | str, dict] = {
    401: {"model": ErrorMessage, "description": "X-Admin-Key missing or wrong."},
    403: {"model": ErrorMessage, "description": "Off: D2L_ADMIN_KEY is unset."},
}
UPLOAD_ERRORS: dict[int | str, dict] = {
    **ADMIN_ERRORS,
    400: {"model": ErrorMessage, "description": "Not a zip, or an archive refused (paths "
          "outside it, links, too many files or bytes, a zip bomb)."},
    408: {"model": ErrorMessage, "description": "Slower than D2L_UPLOAD_TIMEOUT_S."},
    413: {"model": ErrorMessage, "description": "The upload is over D2L_MAX_UPLOAD_BYTES."},
    422: {"model": ErrorMessage, "description": "A set that cannot be trained on: one class, "
          "no images that decode, an unknown layout, a box outside its image..."},
}  # fmt: skip


class DatasetNotFoundError(ServiceError):
    status_code = 404

    def __init__(self) -> None:
        super().__init__("there is no data set with that id: GET /datasets lists them")


@router.post(
    "/datasets",
    status_code=201,
    summary="Upload a data set to train on",
    description="classify: a zip of `<class>/<image>` folders, or `train/<class>/...` with "
    "`val/<class>/...` held out. detect: a zip of `images/` and d2l's `label.csv` "
    "(`img_name,label,xmin,ymin,xmax,ymax`, pixel corners; labels as integers or names), or "
    "of images and a COCO `annotations.json`. word2vec: a text file (or a zip of them), one "
    "sentence per line. The archive is checked before anything is kept; images that do not "
    "decode are skipped and listed in the summary.",
    responses=UPLOAD_ERRORS,
)
async def upload_dataset(
    store: StoreDep,
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="The set: a .zip (or text for word2vec).")],
    task: Annotated[TrainTask, Query(description="What the set trains.")],
    name: Annotated[str, Query(description="A name to know it by.", max_length=64)],
) -> Dataset:
    check_name(name)
    archive = ArchiveLimits(settings.max_dataset_files, settings.max_dataset_bytes)
    images = ImageLimits(
        settings.max_image_pixels, settings.max_image_side, settings.max_image_aspect
    )
    row = await asyncio.to_thread(
        create_dataset, store, task, name, file.file, file.filename or "", archive, images
    )
    return Dataset.from_row(row)


@router.get("/datasets", summary="The uploaded data sets", responses=ADMIN_ERRORS)
async def list_datasets(store: StoreDep) -> DatasetList:
    rows = await asyncio.to_thread(store.datasets)
    return DatasetList(datasets=[Dataset.from_row(row) for row in rows])


@router.get(
    "/datasets/{dataset_id}",
    summary="One data set and its summary",
    responses={**ADMIN_ERRORS, 404: {"model": ErrorMessage, "description": "No such set."}},
)
async def get_dataset(dataset_id: str, store: StoreDep) -> Dataset:
    row = await asyncio.to_thread(store.dataset, dataset_id)
    if row is None:
        raise DatasetNotFoundError()
    return Dataset.from_row(row)


@router.delete(
    "/datasets/{dataset_id}",
    status_code=204,
    summary="Delete a data set and its files",
    responses={
        **ADMIN_ERRORS,
        404: {"model": ErrorMessage, "description": "No such set."},
        409: {"model": ErrorMessage, "description": "A job that has not ended uses it."},
    },
)
async def remove_dataset(dataset_id: str, store: StoreDep) -> Response:
    if await asyncio.to_thread(store.dataset, dataset_id) is None:
        raise DatasetNotFoundError()
    await asyncio.to_thread(delete_dataset, store, dataset_id)
    return Response(status_code=204)
