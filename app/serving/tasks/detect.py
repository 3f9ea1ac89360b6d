"""Object detection (``task: detect``): TinySSD, Faster R-CNN or Mask R-CNN, each request with
its own thresholds in a shared batch, and its endpoints: ``POST /detect`` (boxes in the uploaded
image's pixels, by decreasing score, with a Mask R-CNN's masks as polygons or COCO RLE),
``POST /detect/batch`` and ``POST /detect/render`` (the upload as PNG with the boxes drawn and
the masks filled).
"""

# No ``from __future__ import annotations``: the endpoints built in DetectTask.add_routes name
# their dependencies' types, which FastAPI reads from the annotations at run time.

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Annotated, Any, ClassVar, Self

import torch
from fastapi import APIRouter, Depends, Query, UploadFile
from fastapi.responses import Response
from PIL import Image
from torch import Tensor

from app.schemas.detect import (
    BatchDetectionResult,
    DetectedObject,
    DetectionResult,
    ImageSize,
    MaskFormat,
    PolygonMask,
    RLEMask,
)
from app.serving.admission import model_dependency
from app.serving.deps import ImagesDep
from app.serving.failures import ModelLoadError
from app.serving.intake import IMAGE_FILE, DecodedImage, ImagePreparer, PreparedImage
from app.serving.served import ServedModel
from app.serving.tasks.base import (
    Placement,
    TaskFacts,
    require_finite,
    require_finite_weights,
    warm_up_batch,
)
from app.serving.tasks.image import ImageTask
from app.serving.tasks.render import render_png
from models.cards import DetectCard
from models.data.images import InputLimits
from models.manifest import ManifestEntry
from models.ops.masks import SoftMask, mask_to_polygons, mask_to_rle
from models.vision.detection.base import (
    Detection,
    DetectionThresholds,
    ObjectDetector,
    served_thresholds,
)
from models.vision.detection.loading import load_detector
from models.vision.detection.tinyssd import TinySSDDetector


@dataclass(frozen=True)
class DetectJob:
    """One image for a detector: its preprocessed input, the size boxes are reported in
    (width, height), and the request's thresholds."""

    input: Tensor
    size: tuple[int, int]
    thresholds: DetectionThresholds


@dataclass(frozen=True)
class RequestedThresholds:
    """The thresholds a request names (the model's own, ``/models``, stand in for the rest) and
    how it wants masks."""

    score_threshold: float | None
    iou_threshold: float | None
    max_detections: int | None
    mask_format: MaskFormat = "polygons"

    def over(self, defaults: DetectionThresholds) -> DetectionThresholds:
        named = {
            key: value
            for key, value in vars(self).items()
            if value is not None and key != "mask_format"
        }
        return replace(defaults, **named, masks=self.mask_format != "none")


_MODEL_DEFAULT = " Default: the model's own (its `thresholds` in `/models`)"


def get_thresholds(
    score_threshold: Annotated[
        float | None,
        Query(ge=0, le=1, description="Minimum class score." + _MODEL_DEFAULT + ", else 0.5."),
    ] = None,
    iou_threshold: Annotated[
        float | None,
        Query(
            ge=0, le=1, description="NMS IoU threshold, per class." + _MODEL_DEFAULT + ", else 0.5."
        ),
    ] = None,
    max_detections: Annotated[
        int | None,
        Query(
            ge=1, le=1000, description="At most this many boxes." + _MODEL_DEFAULT + ", else 100."
        ),
    ] = None,
    mask_format: Annotated[
        MaskFormat,
        Query(
            description="Models with masks (`masks: true` in /models): each detection's `mask` "
            "as outline `polygons`, as COCO compressed `rle`, or `none` (no mask, and none "
            "computed). Other detectors ignore it."
        ),
    ] = "polygons",
) -> RequestedThresholds:
    return RequestedThresholds(score_threshold, iou_threshold, max_detections, mask_format)


Thresholds = Annotated[RequestedThresholds, Depends(get_thresholds)]
PNG = {"image/png": {"schema": {"type": "string", "format": "binary"}}}
MASK_ARCHITECTURES = frozenset({"maskrcnn"})
MAX_POLYGON_POINTS = 64  # per outline: a disc's outline within a pixel of a 1,900-pixel photo


class DetectTask(ImageTask[DetectJob, list[Detection]]):
    kind: ClassVar[str] = "detect"
    title: ClassVar[str] = "detection"
    path: ClassVar[str] = "detect"
    tag: ClassVar[str] = "detection"
    summary: ClassVar[str] = "Detect objects in an image"
    description: ClassVar[str] = (
        "Boxes in the uploaded image's pixels, by decreasing score. For the image with the boxes "
        "drawn, use `POST /detect/render`."
    )
    batch_summary: ClassVar[str] = "Detect objects in several images at once"
    answer_model = DetectionResult
    batch_answer_model = BatchDetectionResult
    options = staticmethod(get_thresholds)

    def __init__(
        self, detector: ObjectDetector, thresholds: DetectionThresholds | None = None
    ) -> None:
        self.detector = detector
        self.dtype = detector.dtype
        # What a request that names no threshold gets: the manifest's, else the defaults.
        self.thresholds = thresholds or DetectionThresholds()

    @classmethod
    def load(cls, entry: ManifestEntry, placement: Placement) -> Self:
        try:
            thresholds = served_thresholds(entry.card.thresholds)
        except ValueError as error:
            raise ModelLoadError(f"the manifest entry's {error}; fix it and reload") from None
        detector = load_detector(entry.file, placement.device, placement.dtype)
        require_finite_weights(detector.model)
        size = detector.input_size
        blank = detector.preprocess(Image.new("RGB", (size, size)))
        batch = warm_up_batch(blank, placement.warm_up_batch)
        if isinstance(detector, TinySSDDetector):  # its raw outputs can be checked
            cls_probs, offsets = detector.predict(torch.stack(batch))
            require_finite([("class scores", cls_probs), ("offsets", offsets)], "the warm-up's")
        else:
            warm_up = [DetectionThresholds()] * len(batch)
            detector.detect_inputs(batch, [(size, size)] * len(batch), warm_up)
        return cls(detector, thresholds)

    @classmethod
    def describe(cls, entry: ManifestEntry) -> TaskFacts:
        facts = super().describe(entry)
        if isinstance(entry.card, DetectCard):
            facts = replace(facts, metrics=facts.metrics | entry.card.false_alarm_metrics())
        facts = replace(facts, masks=entry.card.architecture in MASK_ARCHITECTURES)
        try:
            thresholds = asdict(served_thresholds(entry.card.thresholds))
        except ValueError:  # the entry cannot load; its state and reason say why
            return facts
        thresholds.pop("masks")
        return replace(facts, thresholds=thresholds)

    @property
    def input_size(self) -> int:
        return self.detector.input_size

    @property
    def decode_side(self) -> int:
        return self.detector.decode_side

    @property
    def input_limits(self) -> InputLimits:
        return self.detector.input_limits

    def preprocess(self, image: Image.Image) -> Tensor:
        return self.detector.preprocess(image)

    def job(self, prepared: PreparedImage, options: RequestedThresholds) -> DetectJob:
        size = (prepared.decoded.width, prepared.decoded.height)
        return DetectJob(prepared.input, size, options.over(self.thresholds))

    def run_batch(self, jobs: Sequence[DetectJob]) -> list[list[Detection]]:
        return self.detector.detect_inputs(
            [j.input for j in jobs], [j.size for j in jobs], [j.thresholds for j in jobs]
        )

    def answer(
        self,
        model: str,
        decoded: DecodedImage,
        result: list[Detection],
        options: RequestedThresholds | None = None,
    ) -> DetectionResult:
        size = (decoded.width, decoded.height)
        mask_format = options.mask_format if options is not None else "polygons"
        return DetectionResult(
            model=model,
            image=ImageSize(width=decoded.width, height=decoded.height),
            detections=[
                DetectedObject(
                    box=d.box,
                    score=d.score,
                    label=d.label,
                    class_id=d.class_id,
                    mask=encoded_mask(d.mask, size, mask_format),
                )
                for d in result
            ],
        )

    @classmethod
    def add_routes(cls, router: APIRouter) -> None:
        """``POST /detect`` (with the deprecated ``render=true``) and ``POST /detect/render``."""
        model = model_dependency(cls)
        Model = Annotated[ServedModel, Depends(model)]

        async def detect(
            file: Annotated[UploadFile, IMAGE_FILE],
            served: Model,
            images: ImagesDep,
            thresholds: Thresholds,
            render: Annotated[
                bool, Query(deprecated=True, description="Use POST /detect/render instead.")
            ] = False,
        ) -> Any:
            if render:
                return await rendered(file, served, images, thresholds)
            prepared = await images.prepare(file, served.task)
            (found,) = await cls.serve(served, [prepared], thresholds)
            return found

        async def detect_render(
            file: Annotated[UploadFile, IMAGE_FILE],
            served: Model,
            images: ImagesDep,
            thresholds: Thresholds,
        ) -> Response:
            return await rendered(file, served, images, thresholds)

        cls._add(
            router,
            detect,
            "/detect",
            "detect",
            cls.summary,
            cls.description,
            responses={
                200: {"content": PNG, "description": "JSON; PNG with the deprecated render=true"}
            },
        )
        router.post(
            "/detect/render",
            summary="Draw the detected objects on the image",
            description="The uploaded image as PNG, at its own size, with each box, label and "
            "score drawn and, for models with masks, each mask filled translucently: what "
            "`POST /detect` finds with the same thresholds.",
            response_class=Response,
            responses={200: {"content": PNG, "description": "The image with the boxes drawn."}},
        )(detect_render)


def encoded_mask(
    mask: SoftMask | None, size: tuple[int, int], mask_format: MaskFormat
) -> PolygonMask | RLEMask | None:
    """A detection's mask as the request asked for it, in the pixels of an image of ``size``."""
    if mask is None or mask_format == "none":
        return None
    if mask_format == "rle":
        rle = mask_to_rle(mask, size)
        return RLEMask(size=tuple(rle["size"]), counts=str(rle["counts"]))
    return PolygonMask(polygons=mask_to_polygons(mask, MAX_POLYGON_POINTS))


async def rendered(
    file: UploadFile,
    served: ServedModel[DetectTask],
    images: ImagePreparer,
    thresholds: RequestedThresholds,
) -> Response:
    """The upload as PNG with what the model finds drawn on it."""
    # Drawn on the full-size image, where /detect may decode it at reduced size.
    prepared = await images.prepare(file, served.task, full_size=True)
    (found,) = await served.run([served.task.job(prepared, thresholds)])
    png = await images.run(render_png, prepared.decoded, found)
    return Response(png, media_type="image/png")
