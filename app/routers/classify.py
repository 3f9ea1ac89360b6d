"""``POST /classify`` and ``POST /classify/batch``: the classes of uploaded images.

Decoding (at reduced size for JPEGs: the input is small) and preprocessing run in the decode
thread pool; the images then join the model's dynamic batcher, which runs them with other
requests' images in one forward pass.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, UploadFile

from app.schemas.classify import BatchClassificationResult, ClassificationResult, ClassPrediction
from app.schemas.common import ImageSize
from app.serving.admission import ModelInUse, image_task_router, model_dependency
from app.serving.deps import ImagesDep
from app.serving.intake import (
    BATCH_DESCRIPTION,
    IMAGE_FILE,
    DecodedImage,
    PreparedImage,
)
from app.serving.tasks.classify import ClassifyJob, ClassifyTask
from models.vision.classifier import Prediction

router = image_task_router(ClassifyTask, "classification")

ClassifyModel = Annotated[ModelInUse[ClassifyTask], Depends(model_dependency(ClassifyTask))]
TopK = Annotated[
    int,
    Query(ge=1, le=1000, description="How many classes to return; more than the model has "
          "gives all of them."),
]  # fmt: skip


@router.post(
    "/classify",
    summary="Classify an image",
    description="The model's top classes for the uploaded image, with softmax probabilities.",
)
async def classify(
    file: Annotated[UploadFile, IMAGE_FILE],
    model: ClassifyModel,
    images: ImagesDep,
    top_k: TopK = 5,
) -> ClassificationResult:
    prepared = await images.prepare(file, model.task)
    (found,) = await _classify(model, [prepared], top_k)
    return _result(model.name, prepared.decoded, found)


@router.post(
    "/classify/batch",
    summary="Classify several images at once",
    description=BATCH_DESCRIPTION,
)
async def classify_batch(
    file: Annotated[list[UploadFile], IMAGE_FILE],
    model: ClassifyModel,
    images: ImagesDep,
    top_k: TopK = 5,
) -> BatchClassificationResult:
    prepared = await images.prepare_batch(file, model.task, model.reserve)
    found = await _classify(model, prepared, top_k)
    return BatchClassificationResult(
        results=[_result(model.name, p.decoded, f) for p, f in zip(prepared, found, strict=True)]
    )


async def _classify(
    model: ModelInUse[ClassifyTask], images: list[PreparedImage], top_k: int
) -> list[list[Prediction]]:
    return await model.run([ClassifyJob(image.input, top_k) for image in images])


def _result(name: str, decoded: DecodedImage, found: list[Prediction]) -> ClassificationResult:
    return ClassificationResult(
        model=name,
        image=ImageSize(width=decoded.width, height=decoded.height),
        predictions=[
            ClassPrediction(label=p.label, class_id=p.class_id, score=p.score) for p in found
        ],
    )
