"""``GET /models`` and ``POST /models/{name}/reload``: what each model is and how it is served."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.schemas.health import ModelStatus


class BatchingInfo(BaseModel):
    max_batch_size: int = Field(description="Most images in one forward pass.")
    max_wait_ms: float = Field(description="Longest wait for a batch to fill.")
    max_queue: int = Field(description="Most images taken in at once; beyond it requests get 503.")
    max_queue_wait_s: float | None = Field(
        default=None, description="Most seconds of work taken in; beyond it requests get 503."
    )


class DetectionDefaults(BaseModel):
    score_threshold: float = Field(ge=0, le=1, description="Minimum class score.")
    iou_threshold: float = Field(ge=0, le=1, description="NMS IoU threshold, per class.")
    max_detections: int = Field(ge=1, description="At most this many boxes.")


class AcceptedImages(BaseModel):
    """The images an image model takes: the service's limits and the model's own together.
    Others are refused before they are decoded (413 over a size, else 422)."""

    max_pixels: int = Field(description="Most pixels (D2L_MAX_IMAGE_PIXELS).")
    max_side: int = Field(description="Longest side, in pixels (D2L_MAX_IMAGE_SIDE).")
    min_side: int = Field(description="Shortest side the model takes, in pixels.")
    max_aspect: float = Field(
        description="Longest side over shortest, at most (D2L_MAX_IMAGE_ASPECT, or the model's "
        "own limit when lower)."
    )


class ModelInfo(ModelStatus):
    default: bool = Field(
        default=False,
        description="Requests of its task that name no model go to it (D2L_DEFAULT_*_MODEL).",
    )
    architecture: str | None = Field(default=None, description="e.g. resnet18, tinyssd, skipgram.")
    classes: list[str] | None = Field(default=None, description="Class names, by class id.")
    input_size: int | None = Field(
        default=None, description="Side of the square image input, in pixels."
    )
    device: str = Field(description="Where the model runs.")
    dtype: str | None = Field(default=None, description="Floating-point type it computes in.")
    dtype_reason: str | None = Field(
        default=None,
        description="Why it computes in that type: D2L_DTYPE, or auto's choice from the "
        "model's quality measured in each format (the manifest's numerics).",
    )
    batching: BatchingInfo | None = Field(
        default=None, description="Dynamic batching of an image model; none for word2vec."
    )
    metrics: dict[str, float] = Field(
        default_factory=dict,
        description="Figures measured when it was trained; for a detector also "
        "false_per_100_<set>: "
        "false boxes per 100 photos of each seal-free set never trained on, as served "
        "(python -m bench.false_alarms --write).",
    )
    accepts: AcceptedImages | None = Field(
        default=None, description="The images a loaded image model takes; none for word2vec."
    )
    thresholds: DetectionDefaults | None = Field(
        default=None,
        description="A detector's thresholds for requests to /detect that name none: its "
        "manifest's (chosen on its validation split by python -m models.calibrate), else the "
        "service's defaults.",
    )
    masks: bool | None = Field(
        default=None,
        description="A detector: whether its detections carry masks (Mask R-CNN), which "
        "/detect's mask_format shapes; a detector without them ignores mask_format.",
    )
    sha256: str = Field(description="SHA-256 of the weights file.")


class ModelList(BaseModel):
    models: list[ModelInfo]
