"""The limits table of docs/api.md states every cap of ``app.schemas.geometry.limits`` with its
value, in the row of the endpoint it bounds: change a cap and this fails until the table does."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.schemas.geometry import limits

TABLE_PAGE = Path(__file__).resolve().parent.parent / "docs" / "api.md"

# cap -> the first cell of the rows that must state it
ROWS = {
    "MAX_MAGNITUDE": ["any number of a `/geometry` body"],
    "MAX_BOXES": ["convert, IoU, offsets"],
    "MAX_IOU_PAIRS": ["convert, IoU, offsets"],
    "MAX_NMS_BOXES": ["NMS", "detect"],
    "MAX_MAP_SIDE": ["anchors"],
    "MAX_ANCHOR_SHAPES": ["anchors"],
    "MAX_LISTED_ANCHORS": ["anchors"],
    "MAX_PIXELS": ["anchors"],
    "MAX_GROUND_TRUTH": ["assign"],
    "MAX_ASSIGN_PAIRS": ["assign"],
    "MAX_ASSIGN_WORK": ["assign"],
    "MAX_CLASS_ROWS": ["detect"],
    "MAX_PROBABILITIES": ["detect"],
    "MAX_TENSOR_ELEMENTS": ["RoI ops", "conv-transpose"],
    "MAX_KERNEL_ELEMENTS": ["conv-transpose"],
    "MAX_OUTPUT_ELEMENTS": ["any output tensor"],
    "MAX_CONV_TRANSPOSE_MACS": ["conv-transpose"],
    "MAX_ROIS": ["RoI ops"],
    "MAX_POOLED_SIDE": ["RoI ops"],
    "MAX_ROI_POOL_CELLS": ["RoI ops"],
    "MAX_ROI_ALIGN_SAMPLES": ["RoI ops"],
    "MAX_STRIDE": ["conv-transpose"],
    "MAX_PADDING": ["conv-transpose"],
}


def table_rows() -> dict[str, str]:
    """First cell -> the cap cell of each row of the limits table."""
    rows = {}
    for line in TABLE_PAGE.read_text().split("## Limits", 1)[1].splitlines():
        if line.startswith("| ") and not line.startswith("| ---"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows[cells[0]] = cells[1]
    return rows


def test_every_cap_of_the_limits_module_is_in_the_table():
    caps = {name for name in vars(limits) if name.startswith("MAX_")}
    assert caps == set(ROWS), "a cap was added or removed: give it a row below and in the table"


@pytest.mark.parametrize("cap", sorted(ROWS))
def test_the_table_states_each_cap_in_its_rows(cap):
    rows = table_rows()
    value = f"{getattr(limits, cap):,}"
    for first_cell in ROWS[cap]:
        row = next((cells for name, cells in rows.items() if name.startswith(first_cell)), None)
        assert row is not None, f"the limits table has no row {first_cell!r}"
        assert value in row, f"{cap} = {value} is not in the row {first_cell!r}: {row}"
