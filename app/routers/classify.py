"""``POST /classify`` and ``POST /classify/batch``: the classes of uploaded images.

Decoding (at reduced size for JPEGs: the input is small) and the forward pass run in worker
threads; a batch upload is one forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, UploadFile
from fastapi.concurrency import run_in_threadpool

from app.deps import RegistryDep, SettingsDep
from app.imaging import DecodedImage
from app.schemas.classify import BatchClassificationResult, ClassificationResult, ClassPrediction
from app.schemas.common import ImageSize
from app.uploads import IMAGE_FILE, check_batch_size, decode_upload, image_route_errors
from models.vision.classifier import ImageClassifier, Prediction

TASK = "classify"

router = APIRouter(tags=["classification"], responses=image_route_errors("classification"))


@dataclass(frozen=True)
class ClassifyModel:
    name: str
    classifier: ImageClassifier


async def get_classify_model(
    registry: RegistryDep,
    settings: SettingsDep,
    model: Annotated[str | None, Query(description="A classification model from /models.")] = None,
) -> ClassifyModel:
    name = model or settings.default_classify_model
    return ClassifyModel(name, registry.get(name, TASK))


ClassifyModelDep = Annotated[ClassifyModel, Depends(get_classify_model)]
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
    model: ClassifyModelDep,
    settings: SettingsDep,
    top_k: TopK = 5,
) -> ClassificationResult:
    classifier = model.classifier
    decoded = await decode_upload(file, settings.max_image_pixels, classifier.decode_side)
    (found,) = await run_in_threadpool(_run, classifier, [decoded], top_k)
    return _result(model.name, decoded, found)


@router.post(
    "/classify/batch",
    summary="Classify several images at once",
    description="Send several `file` parts; one forward pass for all of them.",
)
async def classify_batch(
    file: Annotated[list[UploadFile], IMAGE_FILE],
    model: ClassifyModelDep,
    settings: SettingsDep,
    top_k: TopK = 5,
) -> BatchClassificationResult:
    check_batch_size(len(file), settings.max_batch_images)
    classifier = model.classifier
    decoded = [
        await decode_upload(upload, settings.max_image_pixels, classifier.decode_side)
        for upload in file
    ]
    found = await run_in_threadpool(_run, classifier, decoded, top_k)
    return BatchClassificationResult(
        results=[_result(model.name, d, f) for d, f in zip(decoded, found, strict=True)]
    )


def _run(
    classifier: ImageClassifier, images: list[DecodedImage], top_k: int
) -> list[list[Prediction]]:
    return classifier.classify([d.image for d in images], top_k)


def _result(name: str, decoded: DecodedImage, found: list[Prediction]) -> ClassificationResult:
    return ClassificationResult(
        model=name,
        image=ImageSize(width=decoded.width, height=decoded.height),
        predictions=[
            ClassPrediction(label=p.label, class_id=p.class_id, score=p.score) for p in found
        ],
    )
