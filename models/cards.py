"""Model cards: what the weights manifest says of each model, one typed schema per task.

Every entry names a model, its task, its checkpoint file and the file's SHA-256; the card of
its task says the rest with one set of key names (``architecture``, ``classes``,
``input_size``...), validated when the manifest is read and when it is written. An entry of a
task this module does not know keeps whatever keys it has (the registry reports it unknown).

Manifests written before these schemas (no ``version``, or version 1) are read through
:func:`migrate_entry`, once, in memory; ``python -m models.manifest migrate PATH`` rewrites
them.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

MANIFEST_VERSION = 2

Number = int | float


class ModelCard(BaseModel):
    """What every entry has. ``default`` marks the model a request of its task gets when it
    names none (at most one per task; ``D2L_DEFAULT_<TASK>_MODEL`` overrides it)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    known_task: ClassVar[bool] = False

    name: str = Field(min_length=1, max_length=200)
    task: str = Field(min_length=1)
    file: str = Field(min_length=1)
    sha256: str = Field(min_length=1)
    default: bool = False
    architecture: str | None = None
    command: str | None = None
    device: str | None = None
    world_size: int | None = None
    distributed: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    # float32 vs reduced-precision figures (python -m models.evaluate --write)
    numerics: dict[str, Any] | None = None
    # batch size and wait per device type, e.g. {"cpu": {"max_batch_size": 8}}
    batching: dict[str, dict[str, Number]] | None = None
    note: str | None = None

    def numeric_metrics(self) -> dict[str, float]:
        """The metrics that are single numbers (per-epoch rows and labels left out)."""
        return {
            key: value
            for key, value in self.metrics.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        }


class _KnownCard(ModelCard):
    model_config = ConfigDict(extra="forbid", frozen=True)
    known_task: ClassVar[bool] = True


class ClassifyCard(_KnownCard):
    task: Literal["classify"]
    classes: list[str] | None = None
    input_size: int | None = Field(default=None, gt=0)
    stem: str | None = None
    input: dict[str, Any] | None = None
    source: dict[str, Any] | None = None
    dtype: str | None = None


class DetectCard(_KnownCard):
    task: Literal["detect"]
    classes: list[str] | None = None
    input_size: int | None = Field(default=None, gt=0)
    tiling: bool = False
    anchors: dict[str, Any] | None = None
    backbone: str | None = None
    roi_op: str | None = None
    image_mean: list[float] | None = None
    image_std: list[float] | None = None
    # what a request naming none gets; each value checked when the model loads
    thresholds: dict[str, Any] | None = None
    thresholds_calibration: dict[str, Any] | None = None
    # false boxes on seal-free sets never trained on, as served (bench.false_alarms --write)
    false_alarms: dict[str, Any] | None = None

    def false_alarm_metrics(self) -> dict[str, float]:
        """``false_per_100_<set>`` for each seal-free set the false-alarm bench measured."""
        sets = (self.false_alarms or {}).get("sets", {})
        return {
            f"false_per_100_{name.replace('-', '_')}": float(figures["false_boxes_per_100"])
            for name, figures in sets.items()
        }


class WordVectorsCard(_KnownCard):
    task: Literal["word2vec"]
    vocab_size: int | None = Field(default=None, gt=0)
    embed_size: int | None = Field(default=None, gt=0)
    probes: dict[str, list[list[Any]]] | None = None
    config: dict[str, Any] | None = None


CARD_TYPES: dict[str, type[ModelCard]] = {
    "classify": ClassifyCard,
    "detect": DetectCard,
    "word2vec": WordVectorsCard,
}

# Version 1's key names, by the one each now has.
_RENAMED = {"arch": "architecture", "class_names": "classes", "args": "config"}


def card_type(task: str) -> type[ModelCard]:
    return CARD_TYPES.get(task, ModelCard)


def parse_card(entry: dict[str, Any]) -> ModelCard:
    """The card of one manifest entry (already in this version's keys).

    Raises:
        pydantic.ValidationError: a key the task's card does not have, or a value of the
            wrong type.
    """
    return card_type(str(entry.get("task", ""))).model_validate(entry)


def migrate_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A version-1 entry in this version's keys: ``arch`` -> ``architecture``,
    ``class_names`` -> ``classes``, word2vec's ``args`` -> ``config``; nothing else changes.
    Classifiers always recorded ``architecture``, so TinySSD (which recorded none) is the only
    detector left without one, and gets ``tinyssd``."""
    migrated = dict(entry)
    for old, new in _RENAMED.items():
        if old in migrated:
            value = migrated.pop(old)
            migrated.setdefault(new, value)
    if migrated.get("task") == "detect" and "architecture" not in migrated:
        migrated["architecture"] = "tinyssd"
    return migrated


def dump_card(card: ModelCard) -> dict[str, Any]:
    """The card as the manifest stores it: JSON types, keys at their defaults left out."""
    return card.model_dump(mode="json", exclude_defaults=True)
