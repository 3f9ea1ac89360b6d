"""Service configuration: every field can be set by an environment variable ``D2L_<NAME>``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.core.cors import check_origin

REPO_ROOT = Path(__file__).resolve().parents[2]


class BatchingOverride(BaseModel):
    """Per-model batching, overriding the service-wide defaults."""

    max_batch_size: int | None = Field(default=None, gt=0, le=4096)
    max_wait_ms: float | None = Field(default=None, ge=0, le=10_000)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="D2L_", extra="ignore")

    manifest_path: Path = Field(
        default=REPO_ROOT / "weights" / "manifest.json",
        description="The weights manifest listing the models to serve (D2L_MANIFEST_PATH).",
    )
    device: str = Field(
        default="auto",
        description="auto (a GPU when there is one, else the CPU), cpu, cuda or cuda:N.",
    )
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        default="auto",
        description="What image models compute in. auto: per model, the fastest format the "
        "device runs well (float16 or bfloat16 on a GPU, bfloat16 on CPUs with AVX-512 BF16 or "
        "AMX) among those the model was measured to keep its quality in (the manifest's "
        "numerics, python -m models.evaluate), else float32. A format name forces it. "
        "Channels-last is always used.",
    )
    strict: bool = Field(
        default=False,
        description="Stop the start when a model fails to load, instead of serving the others.",
    )
    max_body_bytes: int = Field(
        default=32 * 1024 * 1024,
        gt=0,
        description="Largest accepted request body in bytes; larger ones get 413.",
    )
    default_word_model: str | None = Field(
        default=None,
        description="The word2vec model of /similar, /similarity, /analogy, /vocabulary "
        'when a request names none (default: the manifest\'s word2vec model marked "default").',
    )
    default_detect_model: str | None = Field(
        default=None,
        description="The model of /detect when a request names none (default: the manifest's "
        'detect model marked "default").',
    )
    default_classify_model: str | None = Field(
        default=None,
        description="The model of /classify when a request names none (default: the "
        'manifest\'s classify model marked "default").',
    )
    max_image_pixels: int = Field(
        default=40_000_000,
        gt=0,
        description="Larger images are refused (413) before they are decoded.",
    )
    max_image_side: int = Field(
        default=16_384,
        gt=0,
        description="Images with a longer side are refused (413) before they are decoded.",
    )
    max_image_aspect: float = Field(
        default=20.0,
        ge=1,
        description="Images whose longer side is more than this many times the shorter are "
        "refused (422) before they are decoded.",
    )
    max_batch_images: int = Field(
        default=32, gt=0, description="Images per /detect/batch or /classify/batch."
    )
    max_batch_size: int = Field(
        default=32,
        gt=0,
        le=4096,
        description="Dynamic batching: most images in one forward pass of a model.",
    )
    max_wait_ms: float = Field(
        default=2.0,
        ge=0,
        le=10_000,
        description="Dynamic batching: how long a forward pass may wait for more images.",
    )
    batching: dict[str, BatchingOverride] = Field(
        default_factory=dict,
        description='Per-model batching as JSON, e.g. {"tinyssd-logo": {"max_batch_size": 64, '
        '"max_wait_ms": 5}}.',
    )
    max_queue: int = Field(
        default=256,
        gt=0,
        description="Images a model takes in at once (decoded, queued or in a forward pass, "
        "once their body has arrived); a request that would not fit gets 503 with Retry-After "
        "before its body is read.",
    )
    max_queue_wait_s: float = Field(
        default=2.0,
        gt=0,
        description="A model also refuses (503) when what it has taken in would take longer "
        "than this to get through at its measured pace (two batches are always taken).",
    )
    request_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="A request still queued for its model after this long gets 504.",
    )
    geometry_workers: int = Field(
        default=1,
        gt=0,
        le=64,
        description="Threads that run /geometry requests (parsing, op, encoding), apart from "
        "the image models' threads.",
    )
    geometry_queue: int = Field(
        default=8,
        gt=0,
        description="/geometry requests taken in at once; beyond it 503 with Retry-After before "
        "the body is read.",
    )
    decode_workers: int = Field(
        default=0,
        ge=0,
        description="Threads that decode and preprocess images; 0 = one per CPU core.",
    )
    weights_root: Path | None = Field(
        default=None,
        description="Checkpoints must lie inside this folder; default: the manifest's folder.",
    )
    max_weights_bytes: int = Field(
        default=2 << 30, gt=0, description="Largest checkpoint file accepted, in bytes."
    )
    warm_up_batch: int = Field(
        default=32,
        ge=1,
        le=1024,
        description="Images in the batch each image model runs once loaded (kernels loaded, "
        "memory laid out for full batches); lower it for quicker starts (the tests use 4).",
    )
    load_timeout_s: float = Field(
        default=300.0,
        gt=0,
        description="A model whose load and warm-up take longer fails (the others serve on).",
    )
    api_key: str | None = Field(
        default=None,
        description="When set, every endpoint but /health/*, /metrics and the docs needs the "
        "header X-API-Key with this value; it is checked before the body is read.",
    )
    admin_key: str | None = Field(
        default=None,
        description="Enables the operator's endpoints (POST /models/{name}/reload, /datasets, "
        "/training-jobs, /models/{name}/versions), which then need the header X-Admin-Key "
        "with this value; unset, they are off (403).",
    )
    state_dir: Path | None = Field(
        default=None,
        description="Uploaded data sets, training jobs and trained model versions (a SQLite "
        "file and folders); default: state/ beside the manifest's folder. Replicas share it.",
    )
    trainer: Literal["process", "off"] = Field(
        default="process",
        description="process: this service runs training jobs in a child process of its own; "
        "off: another process does (python -m app.training.worker), e.g. beside replicas.",
    )
    train_device: str = Field(
        default="auto", description="Where jobs train: auto (a GPU when there is one), cpu..."
    )
    train_threads: int | None = Field(
        default=None,
        gt=0,
        description="CPU threads a job trains with (default: half the cores, at least 1), so "
        "serving keeps the rest.",
    )
    train_nice: int = Field(
        default=10, ge=0, le=19, description="CPU priority the trainer runs at (nice level)."
    )
    max_upload_bytes: int = Field(
        default=512 * 1024 * 1024,
        gt=0,
        description="Largest data set upload (POST /datasets) in bytes; 413 above.",
    )
    upload_timeout_s: float = Field(
        default=1800.0, gt=0, description="Time a client has to send a data set upload (408)."
    )
    max_dataset_files: int = Field(
        default=20_000, gt=0, description="Most files a data set archive may hold."
    )
    max_dataset_bytes: int = Field(
        default=2 << 30, gt=0, description="Most bytes a data set archive may inflate to."
    )
    http_max_header_bytes: int = Field(
        default=32 * 1024,
        ge=1024,
        description="python -m app.server: longest request line plus header fields (414/431).",
    )
    http_max_headers: int = Field(
        default=100, ge=8, description="python -m app.server: most header fields (431)."
    )
    http_header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="python -m app.server: time a client has to send the request line and "
        "headers (408, connection closed).",
    )
    http_body_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="Time a client has to send the request body (408, connection closed).",
    )
    http_body_idle_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Time a client may pause while sending the request body (408, connection "
        "closed).",
    )
    max_bodies_arriving: int = Field(
        default=512,
        gt=0,
        description="Request bodies being received at once; beyond it 503 before the body is "
        "read. (Models and geometry count their work only once a body has arrived.)",
    )
    max_bytes_arriving: int = Field(
        default=1 << 30,
        gt=0,
        description="Bytes of request bodies still arriving, in all; a body that would pass it "
        "gets 503 (before it is read when its Content-Length says so).",
    )
    max_bodies_arriving_per_client: int = Field(
        default=64,
        gt=0,
        description="Request bodies being received at once from one client address; beyond it "
        "429. Behind a proxy, the address is the proxy's unless uvicorn trusts its "
        "X-Forwarded-For (FORWARDED_ALLOW_IPS).",
    )
    http_keep_alive_s: int = Field(
        default=5, ge=1, description="python -m app.server: idle keep-alive connections close."
    )
    shutdown_timeout_s: int = Field(
        default=30,
        ge=1,
        description="python -m app.server: on SIGTERM, the longest wait for requests in flight.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins that browsers may call from, comma-separated "
        "(https://app.example.com,http://localhost:3000) or * for any.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["json", "text"] = Field(
        default="json", description="json: one JSON object per line, with the request id."
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = [origin.strip() for origin in value.split(",") if origin.strip()]
        if isinstance(value, list):
            return [check_origin(o) if isinstance(o, str) else o for o in value]
        return value

    @field_validator("api_key", "admin_key", mode="before")
    @classmethod
    def _empty_key_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def state_folder(self) -> Path:
        return self.state_dir or self.manifest_path.resolve().parent.parent / "state"

    def default_overrides(self) -> dict[str, str]:
        """The model each task's requests get when they name none, where a setting says so
        (over the manifest's ``default`` marks)."""
        chosen = {
            "classify": self.default_classify_model,
            "detect": self.default_detect_model,
            "word2vec": self.default_word_model,
        }
        return {task: name for task, name in chosen.items() if name}

    def batching_for(self, model: str, hint: BatchingOverride | None = None) -> tuple[int, float]:
        """``(max_batch_size, max_wait_ms)`` of ``model``: D2L_BATCHING's entry for it, else the
        manifest's ``hint`` for this device, else D2L_MAX_BATCH_SIZE and D2L_MAX_WAIT_MS."""
        size, wait = self.max_batch_size, self.max_wait_ms
        for layer in (hint, self.batching.get(model)):
            if layer is not None:
                size = layer.max_batch_size or size
                wait = layer.max_wait_ms if layer.max_wait_ms is not None else wait
        return size, wait
