"""``POST /classify`` and ``POST /classify/batch``: the classes of uploaded images.

Decoding (at reduced size for JPEGs: the input is small) and preprocessing run in the decode
thread pool; the images then join the model's dynamic batcher, which runs them with other
requests' images in one forward pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, UploadFile

from app.admission import admitted_route, model_admission
from app.deps import ImagesDep, SettingsDep
from app.imaging import DecodedImage
from app.schemas.classify import BatchClassificationResult, ClassificationResult, ClassPrediction
from app.schemas.common import ImageSize
from app.serving.capacity import Ticket
from app.serving.loaders import ClassifyJob
from app.serving.registry import ServedModel
from app.uploads import IMAGE_FILE, PreparedImage, check_batch_size, image_route_errors
from models.vision.classifier import ImageClassifier, Prediction

TASK = "classify"

router = APIRouter(
    tags=["classification"],
    responses=image_route_errors("classification"),
    # The model's capacity is taken before the upload is read (or 404/503 at once).
    route_class=admitted_route(model_admission(TASK, lambda s: s.default_classify_model)),
)


@dataclass(frozen=True)
class ClassifyModel:
    name: str
    served: ServedModel
    ticket: Ticket

    def reserve(self, images: int) -> None:
        """Hold capacity for ``images`` (503 when they do not fit), before decoding them."""
        self.ticket.reserve(images)

    @property
    def classifier(self) -> ImageClassifier:
        return self.served.model

    async def classify(self, images: list[PreparedImage], top_k: int) -> list[list[Prediction]]:
        return await self.served.run([ClassifyJob(image.input, top_k) for image in images])


async def get_classify_model(
    request: Request,
    settings: SettingsDep,
    model: Annotated[str | None, Query(description="A classification model from /models.")] = None,
) -> ClassifyModel:
    # The route class has admitted the request to this model already.
    name = model or settings.default_classify_model
    return ClassifyModel(name, request.state.served, request.state.ticket)


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
    images: ImagesDep,
    top_k: TopK = 5,
) -> ClassificationResult:
    classifier = model.classifier
    prepared = await images.prepare(file, classifier.decode_side, classifier.preprocess)
    (found,) = await model.classify([prepared], top_k)
    return _result(model.name, prepared.decoded, found)


@router.post(
    "/classify/batch",
    summary="Classify several images at once",
    description="Send several `file` parts; they run together in the model's batches.",
)
async def classify_batch(
    file: Annotated[list[UploadFile], IMAGE_FILE],
    model: ClassifyModelDep,
    settings: SettingsDep,
    images: ImagesDep,
    top_k: TopK = 5,
) -> BatchClassificationResult:
    check_batch_size(len(file), settings.max_batch_images)
    model.reserve(len(file))
    classifier = model.classifier
    prepared = await images.prepare_all(file, classifier.decode_side, classifier.preprocess)
    found = await model.classify(prepared, top_k)
    return BatchClassificationResult(
        results=[_result(model.name, p.decoded, f) for p, f in zip(prepared, found, strict=True)]
    )


def _result(name: str, decoded: DecodedImage, found: list[Prediction]) -> ClassificationResult:
    return ClassificationResult(
        model=name,
        image=ImageSize(width=decoded.width, height=decoded.height),
        predictions=[
            ClassPrediction(label=p.label, class_id=p.class_id, score=p.score) for p in found
        ],
    )
