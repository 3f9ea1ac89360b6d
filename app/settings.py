"""Service configuration: every field can be set by an environment variable ``D2L_<NAME>``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


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
    max_body_bytes: int = Field(
        default=32 * 1024 * 1024,
        gt=0,
        description="Largest accepted request body in bytes; larger ones get 413.",
    )
    default_word_model: str = Field(
        default="word2vec-skipgram-ptb",
        description="The word2vec model of /similar, /similarity, /analogy, /vocabulary.",
    )
    default_detect_model: str = Field(
        default="tinyssd-logo", description="The detection model of /detect."
    )
    default_classify_model: str = Field(
        default="resnet18-hymenoptera", description="The classification model of /classify."
    )
    max_image_pixels: int = Field(
        default=40_000_000,
        gt=0,
        description="Larger images are refused (413) before they are decoded.",
    )
    max_batch_images: int = Field(
        default=32, gt=0, description="Images per /detect/batch or /classify/batch."
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
