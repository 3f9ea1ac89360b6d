"""What the ``/geometry`` bodies share: array types with caps, strict nested-list validation,
and the checks that relate one field to another."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field, PlainValidator, TypeAdapter, ValidationError, ValidationInfo

from app.schemas.common import STRICT_JSON
from app.schemas.geometry.limits import MAX_BOXES, MAX_MAGNITUDE, MAX_MAP_SIDE

# The one guard against overflow and lost precision: every number of a body (checked by
# pydantic-core, fast enough for a million of them); errors say so (app.core.errors).
Number = Annotated[float, Field(ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE)]
Positive = Annotated[float, Field(gt=0, le=MAX_MAGNITUDE)]
Box = Annotated[list[Number], Field(min_length=4, max_length=4)]
Boxes = Annotated[list[Box], Field(max_length=MAX_BOXES)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Threshold = Annotated[float, Field(ge=0.0, le=1.0)]
Matrix = list[list[float]]
Tensor3 = list[list[list[float]]]
Tensor4 = list[list[list[list[float]]]]
BoxFormatName = Literal["xyxy", "xywh", "cxcywh"]
LABEL_LIMIT = 2**31  # class labels and ids fit an int32
PixelIndex = Annotated[int, Field(ge=0, lt=MAX_MAP_SIDE)]


def nested_list(rank: int) -> Any:
    """``list[list[...[Number]]]`` of the given rank."""
    kind: Any = Number
    for _ in range(rank):
        kind = list[kind]
    return kind


def array_of_rank(*ranks: int) -> PlainValidator:
    """Validate a nested list of one of several ranks, picked by its nesting depth, so an
    error names one position (``input[1][0]``) instead of one failure per possible rank."""
    adapters = {rank: TypeAdapter(nested_list(rank), config=STRICT_JSON) for rank in ranks}
    names = [f"{rank}-D" for rank in ranks]
    wanted = ", ".join(names[:-1]) + " or " + names[-1]

    def validate(value: Any, info: ValidationInfo) -> Any:
        depth, level = 0, value
        while isinstance(level, list):
            depth, level = depth + 1, (level[0] if level else None)
        if depth not in adapters:
            raise ValueError(f"{info.field_name} must be a {wanted} array of numbers")
        try:
            return adapters[depth].validate_python(value)
        except ValidationError as error:
            first = error.errors()[0]
            where = "".join(f"[{index}]" for index in first["loc"])
            raise ValueError(f"{info.field_name}{where}: {bound_message(first)}") from None

    return PlainValidator(
        validate,
        json_schema_input_type=Union[tuple(nested_list(rank) for rank in ranks)],  # noqa: UP007
    )


def boxes_field(description: str) -> object:
    return Field(description=f"{description} At most {MAX_BOXES:,} boxes.")


def check_same_length(anchors: list, other: list, name: str) -> None:
    if len(anchors) != len(other):
        raise ValueError(
            f"{name} must have one row per anchor: {len(anchors)} anchors, {len(other)} {name}"
        )


_BOUND_ERRORS = {"less_than_equal", "greater_than_equal"}


def bound_message(error: Any) -> str:
    """Pydantic's message for one error (a ``dict`` of ``ValidationError.errors()``), or, for a
    number beyond :data:`MAX_MAGNITUDE`, why it is refused."""
    limit = (error.get("ctx") or {}).get("le", (error.get("ctx") or {}).get("ge"))
    if (
        error.get("type") in {"less_than_equal", "greater_than_equal"}
        and abs(limit) == MAX_MAGNITUDE
    ):
        return (
            f"{error['input']:g} is beyond ±2^53 ({MAX_MAGNITUDE:,}), the largest magnitude "
            f"taken: larger numbers overflow or lose the precision the answer needs; rescale"
        )
    return error["msg"]
