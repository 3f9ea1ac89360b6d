"""/geometry/roi-pool, /roi-align and /conv-transpose through the real app: the book's fixtures,
contracts, bad inputs."""

from __future__ import annotations

import pytest

from tests.app.geometry.helpers import messages

BOOK_FEATURES = [[[[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]]]
BOOK_ROIS = [[0, 0, 0, 20, 20], [0, 0, 10, 30, 30]]


def test_the_books_roi_pool_fixture(client):
    body = {
        "features": BOOK_FEATURES,
        "rois": BOOK_ROIS,
        "output_size": [2, 2],
        "spatial_scale": 0.1,
    }
    result = client.post("/geometry/roi-pool", json=body).json()
    assert result == {"output": [[[[5, 6], [9, 10]]], [[[9, 11], [13, 15]]]]}


def test_roi_align(client):
    body = {"features": BOOK_FEATURES, "rois": [[0, 0, 0, 3, 3]], "output_size": [1, 1]}
    result = client.post("/geometry/roi-align", json={**body, "sampling_ratio": 1}).json()
    assert result == {"output": [[[[7.5]]]]}  # one bilinear sample at (1.5, 1.5)
    aligned = client.post(
        "/geometry/roi-align", json={**body, "sampling_ratio": 1, "aligned": True}
    )
    assert aligned.json() == {"output": [[[[5.0]]]]}  # at (1, 1) once shifted by half a pixel


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"rois": [[1, 0, 0, 20, 20]]}, "rois[0] has batch_index 1"),
        ({"rois": [[0.5, 0, 0, 20, 20]]}, "batch_index 0.5"),
        ({"rois": [[0, 20, 0, 0, 20]]}, "rois[0] = [20.0, 0.0, 0.0, 20.0] is not a valid xyxy box"),
        ({"features": [[[[0, 1], [2]]]]}, "rectangular"),
        ({"features": []}, "must not be empty"),
        ({"output_size": [0, 2]}, "greater than or equal to 1"),
        ({"spatial_scale": 0}, "greater than 0"),
        ({"sampling_ratio": 2}, "Unknown field 'sampling_ratio'"),
    ],
)
def test_roi_pool_bad_inputs(client, change, text):
    body = {"features": BOOK_FEATURES, "rois": BOOK_ROIS, "output_size": [2, 2], **change}
    assert text in messages(client.post("/geometry/roi-pool", json=body))


def test_the_books_transposed_convolution_fixtures(client):
    x = [[0, 1], [2, 3]]
    plain = client.post("/geometry/conv-transpose", json={"input": x, "kernel": x})
    assert plain.json() == {"output": [[0, 0, 1], [0, 4, 6], [4, 12, 9]]}
    padded = client.post("/geometry/conv-transpose", json={"input": x, "kernel": x, "padding": 1})
    assert padded.json() == {"output": [[4]]}
    strided = client.post("/geometry/conv-transpose", json={"input": x, "kernel": x, "stride": 2})
    assert strided.json() == {"output": [[0, 0, 0, 1], [0, 0, 2, 3], [0, 2, 0, 3], [4, 6, 6, 9]]}


def test_conv_transpose_keeps_the_rank_of_the_input(client):
    kernel = [[[[0, 1], [2, 3]], [[1, 0], [0, 0]]]]  # 1 input channel, 2 output channels
    three = client.post(
        "/geometry/conv-transpose", json={"input": [[[0, 1], [2, 3]]], "kernel": kernel}
    )
    assert three.json() == {
        "output": [[[0, 0, 1], [0, 4, 6], [4, 12, 9]], [[0, 1, 0], [2, 3, 0], [0, 0, 0]]]
    }
    four = client.post(
        "/geometry/conv-transpose", json={"input": [[[[0, 1], [2, 3]]]], "kernel": kernel}
    )
    assert four.json() == {"output": [three.json()["output"]]}


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"input": [[0, 1], [2]], "kernel": [[1]]}, "rectangular"),
        ({"input": "x", "kernel": [[1]]}, "input must be a 2-D, 3-D or 4-D array of numbers"),
        ({"input": [[[0, 1]]], "kernel": [[1]]}, "a 2-D input takes a 2-D kernel"),
        ({"input": [[[0, 1]]], "kernel": [[[[1]]], [[[1]]]]}, "must equal the input channels"),
        ({"input": [[0, 1], [2, 3]], "kernel": [[1]], "padding": 1}, "padding 1 is too large"),
        ({"input": [[0, 1], [2, 3]], "kernel": [[1]], "stride": 0}, "greater than or equal to 1"),
        ({"input": [[0.0] * 1100] * 1000, "kernel": [[1]]}, "over the cap of 1,048,576"),
        ({"input": [[0.0] * 64] * 64, "kernel": [[1]], "stride": 64}, "the output would hold"),
        (
            {"input": [[0.0] * 128] * 129, "kernel": [[0.0] * 256] * 256},
            "multiply-adds (input values x output channels x kernel size), over the cap of "
            "1,073,741,824",
        ),
        ({"input": [[0, 1]], "kernel": [[0, "a"]]}, "kernel[0][1]"),
    ],
)
def test_conv_transpose_bad_inputs(client, body, text):
    assert text in messages(client.post("/geometry/conv-transpose", json=body))
