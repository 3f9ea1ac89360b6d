"""Region-of-interest pooling and transposed convolution, the other operators d2l's
computer-vision chapters teach, as validated wrappers of torchvision and torch kernels."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision import ops as tv_ops

from models.errors import InvalidInputError
from models.ops.boxes import check_boxes


def roi_pool(
    features: Tensor, rois: Tensor, output_size: tuple[int, int], spatial_scale: float = 1.0
) -> Tensor:
    """Max-pool each region of interest to a fixed size (Fast R-CNN's RoI pooling).

    Args:
        features (Tensor[N, C, H, W]): feature maps.
        rois (Tensor[K, 5]): ``(batch_index, x1, y1, x2, y2)`` in input-image coordinates.
        output_size (tuple[int, int]): ``(h, w)`` of each pooled region.
        spatial_scale (float): factor from input coordinates to feature-map coordinates.

    Returns:
        Tensor[K, C, h, w]: the pooled regions.
    """
    _check_rois(features, rois, output_size, spatial_scale)
    cells = roi_pool_cells(features.shape, rois, output_size, spatial_scale)
    if cells > MAX_ROI_POOL_CELLS:
        raise InvalidInputError(
            f"these regions make RoI pooling visit {cells:,} feature cells, over the limit of "
            f"{MAX_ROI_POOL_CELLS:,}: send fewer or smaller regions, or a smaller spatial_scale",
            "rois",
        )
    return tv_ops.roi_pool(features, rois, output_size, spatial_scale)


# Each bin takes the maximum over its cells, so large regions cost their area in visits.
MAX_ROI_POOL_CELLS = 1 << 28
# Sampling is not clipped to the feature map, so huge regions cost time whatever the features.
MAX_ROI_ALIGN_SAMPLES = 1 << 24


def roi_pool_cells(
    shape: torch.Size | tuple[int, ...],
    rois: Tensor,
    output_size: tuple[int, int],
    spatial_scale: float,
) -> int:
    """Feature cells :func:`roi_pool` visits: channels x each region's area on the map (bins
    share their edge cells, hence the extra row and column per bin).

    Args:
        shape: ``(N, C, H, W)`` of the features.
        rois (Tensor[K, 5]), output_size, spatial_scale: as in :func:`roi_pool`.
    """
    if rois.numel() == 0:
        return 0
    _, channels, map_h, map_w = shape
    corners = torch.round(rois[:, 1:5].double() * spatial_scale)
    width = (corners[:, 2] - corners[:, 0] + 1).clamp(1, map_w) + output_size[1]
    height = (corners[:, 3] - corners[:, 1] + 1).clamp(1, map_h) + output_size[0]
    return int((width * height).sum().item()) * channels


def roi_align(
    features: Tensor,
    rois: Tensor,
    output_size: tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> Tensor:
    """Bilinearly sample each region of interest to a fixed size (Mask R-CNN's RoI align).

    Args:
        features, rois, output_size, spatial_scale: as in :func:`roi_pool`.
        sampling_ratio (int): sampling points per bin side; -1 picks ``ceil(roi / output)``.
        aligned (bool): shift boxes by -0.5 pixel, as Detectron2 does, for exact alignment.

    Returns:
        Tensor[K, C, h, w]: the pooled regions.
    """
    _check_rois(features, rois, output_size, spatial_scale)
    if sampling_ratio != -1 and sampling_ratio < 1:
        raise InvalidInputError(
            f"sampling_ratio must be -1 (adaptive) or >= 1, got {sampling_ratio}", "sampling_ratio"
        )
    samples = roi_align_samples(features.shape[1], rois, output_size, spatial_scale, sampling_ratio)
    if samples > MAX_ROI_ALIGN_SAMPLES:
        raise InvalidInputError(
            f"these regions need {samples:,} bilinear samples, over the limit of "
            f"{MAX_ROI_ALIGN_SAMPLES:,}: regions this large (after spatial_scale) with an adaptive "
            f"sampling_ratio sample every feature-map pixel; set sampling_ratio (2 is usual) or "
            f"a smaller spatial_scale",
            "spatial_scale",
        )
    return tv_ops.roi_align(features, rois, output_size, spatial_scale, sampling_ratio, aligned)


def roi_align_samples(
    channels: int,
    rois: Tensor,
    output_size: tuple[int, int],
    spatial_scale: float,
    sampling_ratio: int,
) -> int:
    """Bilinear samples :func:`roi_align` takes: channels x bins x points per bin, per RoI.

    Args:
        channels (int): feature channels ``C``.
        rois (Tensor[K, 5]): as in :func:`roi_pool`.
        output_size (tuple[int, int]): ``(h, w)``.
        spatial_scale (float), sampling_ratio (int): as in :func:`roi_align`.
    """
    if rois.numel() == 0:
        return 0
    height, width = output_size
    if sampling_ratio > 0:
        per_bin = torch.full((rois.shape[0],), float(sampling_ratio * sampling_ratio))
    else:  # torchvision's adaptive grid: ceil(roi side / output side) points per bin side
        extent = ((rois[:, 3:5] - rois[:, 1:3]).double() * spatial_scale).clamp(min=1.0)
        grid_h = torch.ceil(extent[:, 1] / height)
        grid_w = torch.ceil(extent[:, 0] / width)
        per_bin = grid_h * grid_w
    return int(per_bin.sum().item() * channels * height * width)


def conv_transpose2d(inputs: Tensor, kernel: Tensor, stride: int = 1, padding: int = 0) -> Tensor:
    """Transposed convolution as d2l defines it: each input element scales the kernel, the
    results are placed ``stride`` apart and summed, then ``padding`` rows and columns are
    removed from each border of the output.

    Args:
        inputs (Tensor[N, C_in, H, W]): input maps.
        kernel (Tensor[C_in, C_out, kh, kw]): kernel, torch's ``conv_transpose2d`` layout.
        stride (int): >= 1.
        padding (int): >= 0.

    Returns:
        Tensor[N, C_out, (H - 1) * stride - 2 * padding + kh, (W - 1) * stride - 2 * padding + kw].
    """
    if inputs.dim() != 4 or kernel.dim() != 4:
        raise InvalidInputError(
            f"inputs must be [N, C_in, H, W] and kernel [C_in, C_out, kh, kw]; got "
            f"{list(inputs.shape)} and {list(kernel.shape)}",
            "kernel",
        )
    if inputs.shape[1] != kernel.shape[0]:
        raise InvalidInputError(
            f"the kernel's first dimension ({kernel.shape[0]}) must equal the input channels "
            f"({inputs.shape[1]})",
            "kernel",
        )
    if stride < 1 or padding < 0:
        raise InvalidInputError(
            f"stride must be >= 1 and padding >= 0, got {stride} and {padding}", "stride"
        )
    out_h, out_w = conv_transpose2d_output_size(
        (inputs.shape[2], inputs.shape[3]), (kernel.shape[2], kernel.shape[3]), stride, padding
    )
    if out_h < 1 or out_w < 1:
        raise InvalidInputError(
            f"padding {padding} is too large for a {inputs.shape[2]}x{inputs.shape[3]} input, "
            f"{kernel.shape[2]}x{kernel.shape[3]} kernel and stride {stride}: the output would be "
            f"{out_h}x{out_w}; use a smaller padding",
            "padding",
        )
    return F.conv_transpose2d(inputs, kernel, stride=stride, padding=padding)


def conv_transpose2d_output_size(
    input_size: tuple[int, int], kernel_size: tuple[int, int], stride: int, padding: int
) -> tuple[int, int]:
    """``(H - 1) * stride - 2 * padding + kh`` and the same for the width."""
    return tuple(  # type: ignore[return-value]
        (size - 1) * stride - 2 * padding + k
        for size, k in zip(input_size, kernel_size, strict=True)
    )


def _check_rois(
    features: Tensor, rois: Tensor, output_size: tuple[int, int], spatial_scale: float
) -> None:
    if features.dim() != 4:
        raise InvalidInputError(
            f"features must be [N, C, H, W], got shape {list(features.shape)}", "features"
        )
    if rois.dim() != 2 or rois.shape[1] != 5:
        raise InvalidInputError(
            f"rois must be [K, 5] rows of (batch_index, x1, y1, x2, y2), got {list(rois.shape)}",
            "rois",
        )
    check_boxes(rois[:, 1:], "rois")
    batch_index = rois[:, 0]
    bad = (
        (batch_index < 0)
        | (batch_index >= features.shape[0])
        | (batch_index != batch_index.round())
    )
    if bool(bad.any()):
        index = int(bad.nonzero()[0, 0])
        raise InvalidInputError(
            f"rois[{index}] has batch_index {batch_index[index].item():g}: it must be an integer "
            f"in [0, {features.shape[0] - 1}] (the features hold {features.shape[0]} maps)",
            "rois",
        )
    if len(output_size) != 2 or min(output_size) < 1:
        raise InvalidInputError(
            f"output_size must be two integers >= 1, got {list(output_size)}", "output_size"
        )
    if not spatial_scale > 0 or not torch.isfinite(torch.tensor(spatial_scale)):
        raise InvalidInputError(
            f"spatial_scale must be a positive number, got {spatial_scale}", "spatial_scale"
        )
