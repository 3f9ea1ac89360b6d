"""How much one ``/geometry`` request may ask for: every cap in one place, the README's limits
table checked against it.

Each cap keeps the costliest request it allows within about 2 s of CPU on a 2-core machine,
JSON parsing and encoding included (``python -m bench.overload`` measures them; the README's
limits table quotes the figures). Ops whose cost grows faster than their input get their own
caps: NMS compares every pair of boxes that survive, and anchor assignment's greedy pass scans
the anchors x boxes matrix once per box.
"""

from __future__ import annotations

from models.ops.layers import MAX_ROI_ALIGN_SAMPLES as _MAX_ROI_ALIGN_SAMPLES
from models.ops.layers import MAX_ROI_POOL_CELLS as _MAX_ROI_POOL_CELLS

# Every number of a /geometry body: beyond 2^53 doubles lose whole units, and products of such
# numbers (areas, unions, multiply-adds) come near the double range; within it, nothing the ops
# compute overflows or rounds away what the answer needs.
MAX_MAGNITUDE = 2**53
MAX_BOXES = 50_000
MAX_NMS_BOXES = 15_000  # NMS and multibox detection compare boxes pairwise
MAX_IOU_PAIRS = 2048 * 2048
MAX_MAP_SIDE = 10_000
MAX_ANCHOR_SHAPES = 16
MAX_LISTED_ANCHORS = 100_000
MAX_PIXELS = 1_000
MAX_GROUND_TRUTH = 1_000
MAX_ASSIGN_PAIRS = 5_000_000
MAX_ASSIGN_WORK = 250_000_000  # anchors x boxes x min(anchors, boxes)
MAX_CLASS_ROWS = 1_001
MAX_PROBABILITIES = 1_000_000
MAX_TENSOR_ELEMENTS = 1 << 20
MAX_KERNEL_ELEMENTS = 1 << 16
MAX_OUTPUT_ELEMENTS = 1 << 20  # about 20 MB of JSON
MAX_CONV_TRANSPOSE_MACS = 1 << 30  # multiply-adds: input values x C_out x kh x kw
MAX_ROIS = 1_000
MAX_POOLED_SIDE = 64
MAX_STRIDE = 64
MAX_PADDING = 1_024
# Caps the ops enforce themselves (they depend on the inputs' values, not only their sizes).
MAX_ROI_POOL_CELLS = _MAX_ROI_POOL_CELLS
MAX_ROI_ALIGN_SAMPLES = _MAX_ROI_ALIGN_SAMPLES
