from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from models.errors import InvalidInputError
from models.ops import conv_transpose2d, roi_align, roi_pool
from models.ops.layers import roi_align_samples
from tests.models import d2l_reference as d2l

BOOK_X = torch.arange(16.0).reshape(1, 1, 4, 4)
BOOK_ROIS = torch.tensor([[0, 0, 0, 20, 20], [0, 0, 10, 30, 30]], dtype=torch.float32)


def test_the_books_roi_pool_fixture():
    output = roi_pool(BOOK_X, BOOK_ROIS, (2, 2), spatial_scale=0.1)
    assert output.tolist() == [[[[5, 6], [9, 10]]], [[[9, 11], [13, 15]]]]


def test_the_books_transposed_convolution_fixtures():
    x = torch.tensor([[0.0, 1.0], [2.0, 3.0]]).reshape(1, 1, 2, 2)
    assert conv_transpose2d(x, x).reshape(3, 3).tolist() == [[0, 0, 1], [0, 4, 6], [4, 12, 9]]
    assert conv_transpose2d(x, x, padding=1).reshape(1, 1).tolist() == [[4]]
    assert conv_transpose2d(x, x, stride=2).reshape(4, 4).tolist() == [
        [0, 0, 0, 1],
        [0, 0, 2, 3],
        [0, 2, 0, 3],
        [4, 6, 6, 9],
    ]


def _c_round(value: float) -> float:
    """C's round(): half away from zero. (floor(x + 0.5) would be wrong for the largest double
    below 0.5, where x + 0.5 rounds up to 1.)"""
    whole = math.floor(abs(value))
    return math.copysign(whole + (abs(value) - whole >= 0.5), value)


def reference_roi_pool(features, rois, output_size, scale):
    """Fast R-CNN RoI max pooling, one bin at a time (the rounding of torchvision's kernel)."""
    pooled_h, pooled_w = output_size
    height, width = features.shape[-2:]
    out = torch.zeros(len(rois), features.shape[1], pooled_h, pooled_w, dtype=features.dtype)
    for k, (index, x1, y1, x2, y2) in enumerate(rois.tolist()):
        start_w, start_h = _c_round(x1 * scale), _c_round(y1 * scale)
        end_w, end_h = _c_round(x2 * scale), _c_round(y2 * scale)
        bin_h = max(end_h - start_h + 1, 1) / pooled_h
        bin_w = max(end_w - start_w + 1, 1) / pooled_w
        for ph in range(pooled_h):
            for pw in range(pooled_w):
                h0 = int(min(max(math.floor(ph * bin_h) + start_h, 0), height))
                h1 = int(min(max(math.ceil((ph + 1) * bin_h) + start_h, 0), height))
                w0 = int(min(max(math.floor(pw * bin_w) + start_w, 0), width))
                w1 = int(min(max(math.ceil((pw + 1) * bin_w) + start_w, 0), width))
                if h1 > h0 and w1 > w0:
                    region = features[int(index), :, h0:h1, w0:w1]
                    out[k, :, ph, pw] = region.amax(dim=(-2, -1))
    return out


def _bilinear(plane, y, x):
    height, width = plane.shape
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return 0.0
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_low = y_high = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_low = x_high = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    return (
        (1 - ly) * (1 - lx) * plane[y_low, x_low]
        + (1 - ly) * lx * plane[y_low, x_high]
        + ly * (1 - lx) * plane[y_high, x_low]
        + ly * lx * plane[y_high, x_high]
    )


def reference_roi_align(features, rois, output_size, scale, sampling_ratio, aligned):
    """Mask R-CNN RoI align: average of bilinear samples on a regular grid in each bin."""
    pooled_h, pooled_w = output_size
    offset = 0.5 if aligned else 0.0
    out = torch.zeros(len(rois), features.shape[1], pooled_h, pooled_w, dtype=features.dtype)
    for k, (index, x1, y1, x2, y2) in enumerate(rois.tolist()):
        start_w, start_h = x1 * scale - offset, y1 * scale - offset
        roi_w, roi_h = x2 * scale - offset - start_w, y2 * scale - offset - start_h
        if not aligned:
            roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
        bin_h, bin_w = roi_h / pooled_h, roi_w / pooled_w
        grid_h = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_h / pooled_h)
        grid_w = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_w / pooled_w)
        count = max(grid_h * grid_w, 1)
        for c in range(features.shape[1]):
            plane = features[int(index), c]
            for ph in range(pooled_h):
                for pw in range(pooled_w):
                    total = 0.0
                    for iy in range(grid_h):
                        y = start_h + ph * bin_h + (iy + 0.5) * bin_h / grid_h
                        for ix in range(grid_w):
                            x = start_w + pw * bin_w + (ix + 0.5) * bin_w / grid_w
                            total += float(_bilinear(plane, y, x))
                    out[k, c, ph, pw] = total / count
    return out


@st.composite
def roi_case(draw):
    batch, channels = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    height, width = draw(st.integers(1, 8)), draw(st.integers(1, 8))
    values = draw(
        st.lists(
            st.floats(-10, 10),
            min_size=batch * channels * height * width,
            max_size=batch * channels * height * width,
        )
    )
    features = torch.tensor(values, dtype=torch.float64).reshape(batch, channels, height, width)
    scale = draw(st.sampled_from([0.25, 0.5, 1.0, 2.0]))
    rois = []
    for _ in range(draw(st.integers(0, 4))):
        x1 = draw(st.floats(-2, width / scale))
        y1 = draw(st.floats(-2, height / scale))
        rois.append(
            [
                draw(st.integers(0, batch - 1)),
                x1,
                y1,
                x1 + draw(st.floats(0, width / scale)),
                y1 + draw(st.floats(0, height / scale)),
            ]
        )
    rois_t = torch.tensor(rois, dtype=torch.float64).reshape(-1, 5)
    output_size = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return features, rois_t, output_size, scale


@given(roi_case())
def test_roi_pool_matches_a_direct_reference(case):
    features, rois, output_size, scale = case
    torch.testing.assert_close(
        roi_pool(features, rois, output_size, scale),
        reference_roi_pool(features, rois, output_size, scale),
    )


@given(roi_case(), st.integers(-1, 3).filter(lambda r: r != 0), st.booleans())
def test_roi_align_matches_a_direct_reference(case, sampling_ratio, aligned):
    features, rois, output_size, scale = case
    torch.testing.assert_close(
        roi_align(features, rois, output_size, scale, sampling_ratio, aligned),
        reference_roi_align(features, rois, output_size, scale, sampling_ratio, aligned),
    )


def test_roi_ops_refuse_bad_rois():
    with pytest.raises(
        InvalidInputError, match=r"rois\[1\] has batch_index 1: it must be an integer in \[0, 0\]"
    ):
        roi_pool(BOOK_X, torch.tensor([[0, 0, 0, 1, 1], [1, 0, 0, 1, 1.0]]), (2, 2))
    with pytest.raises(
        InvalidInputError, match=r"rois\[0\] = \[3.0, 0.0, 1.0, 1.0\] is not a valid xyxy box"
    ):
        roi_align(BOOK_X, torch.tensor([[0, 3, 0, 1, 1.0]]), (2, 2))
    with pytest.raises(InvalidInputError, match="spatial_scale must be a positive number"):
        roi_pool(BOOK_X, BOOK_ROIS, (2, 2), spatial_scale=0.0)
    with pytest.raises(InvalidInputError, match="sampling_ratio must be -1"):
        roi_align(BOOK_X, BOOK_ROIS, (2, 2), sampling_ratio=0)


@st.composite
def conv_case(draw):
    n, c_in, c_out = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    h, w, kh, kw = (draw(st.integers(1, 4)) for _ in range(4))
    stride = draw(st.integers(1, 3))
    out_h, out_w = (h - 1) * stride + kh, (w - 1) * stride + kw
    padding = draw(st.integers(0, (min(out_h, out_w) - 1) // 2))
    small = st.integers(-5, 5).map(float)
    x = torch.tensor(draw(st.lists(small, min_size=n * c_in * h * w, max_size=n * c_in * h * w)))
    k = torch.tensor(
        draw(st.lists(small, min_size=c_in * c_out * kh * kw, max_size=c_in * c_out * kh * kw))
    )
    return (
        x.reshape(n, c_in, h, w).double(),
        k.reshape(c_in, c_out, kh, kw).double(),
        stride,
        padding,
    )


@given(conv_case())
def test_conv_transpose_matches_the_books_trans_conv(case):
    x, k, stride, padding = case
    output = conv_transpose2d(x, k, stride, padding)
    for n in range(x.shape[0]):
        for o in range(k.shape[1]):
            expected = sum(
                d2l.trans_conv(x[n, c], k[c, o], stride, padding) for c in range(x.shape[1])
            )
            torch.testing.assert_close(output[n, o], expected)


def test_conv_transpose_refuses_bad_shapes():
    x = torch.ones(1, 2, 3, 3)
    with pytest.raises(
        InvalidInputError,
        match=r"kernel's first dimension \(1\) must equal the input channels \(2\)",
    ):
        conv_transpose2d(x, torch.ones(1, 1, 2, 2))
    with pytest.raises(InvalidInputError, match="padding 2 is too large"):
        conv_transpose2d(torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 2), padding=2)
    with pytest.raises(InvalidInputError, match="stride must be >= 1"):
        conv_transpose2d(x, torch.ones(2, 1, 2, 2), stride=0)


def test_roi_align_refuses_regions_that_would_take_too_many_samples():
    features = torch.arange(16.0).view(1, 1, 4, 4)
    huge = torch.tensor([[0, 0, 0, 20, 20], [0, 0, 10, 30, 30]], dtype=torch.float32)
    with pytest.raises(InvalidInputError, match="bilinear samples, over the limit") as refused:
        roi_align(features, huge, (2, 2), spatial_scale=600)
    assert refused.value.field == "spatial_scale"
    # A fixed sampling ratio bounds the work, whatever the region's size.
    assert roi_align(features, huge, (2, 2), spatial_scale=600, sampling_ratio=2).shape == (
        2, 1, 2, 2,
    )  # fmt: skip
    assert roi_align_samples(3, huge[:1], (2, 2), 1.0, -1) == 3 * 4 * 10 * 10
