"""Every /geometry endpoint is documented for client generation, and every cap of the limits
table is refused over HTTP, naming it."""

from __future__ import annotations

import pytest

from tests.app.geometry.helpers import messages


def test_every_endpoint_is_documented_for_client_generation(client):
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    operations = [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]
    assert len([path for path, _, _ in operations if path.startswith("/geometry/")]) == 11
    for path, method, operation in operations:
        assert operation.get("summary"), f"{method} {path} has no summary"
        status = next(code for code in operation["responses"] if code.startswith("2"))
        if status == "204":  # nothing to type (a delete)
            continue
        content_types = operation["responses"][status]["content"]
        if path.endswith("/events"):  # Server-Sent Events, each a typed item
            assert list(content_types) == ["text/event-stream"], (path, content_types)
            continue
        if path == "/metrics":  # Prometheus' text format, not JSON
            assert [t.split(";")[0] for t in content_types] == ["text/plain"]
            continue
        if path == "/detect/render":  # an image, typed as binary for generators
            assert content_types == {
                "image/png": {"schema": {"type": "string", "format": "binary"}}
            }
            continue
        for status, response in operation["responses"].items():
            # One error model for every error; readiness's 503 is its report, not an error.
            if status.startswith(("4", "5")) and (path, status) != ("/health/ready", "503"):
                error = response["content"]["application/json"]["schema"]
                assert error == {"$ref": "#/components/schemas/ErrorMessage"}, (path, status)
        success = content_types["application/json"]["schema"]
        assert "$ref" in success, f"{method} {path} has no response model"
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            ref = content["application/json"]["schema"]["$ref"]
            schema = schemas[ref.rsplit("/", 1)[-1]]
            assert schema.get("examples"), f"{method} {path} has no request example"
        elif "multipart/form-data" in content:  # uploads: the file field is declared binary
            ref = content["multipart/form-data"]["schema"]["$ref"]
            field = schemas[ref.rsplit("/", 1)[-1]]["properties"]["file"]
            binary = field.get("items", field)
            assert binary["format"] == "binary" and binary["type"] == "string", field
    assert "HTTPValidationError" not in schemas, "422s are ErrorMessage too"


UNIT = [0.1, 0.1, 0.5, 0.5]
FEATURES = [[[[0.0, 1.0], [2.0, 3.0]]]]


@pytest.mark.parametrize(
    ("path", "body", "text"),
    [
        ("/geometry/anchors", {"height": 2, "width": 2, "sizes": [0.5] * 17, "ratios": [1]},
         "at most 16 items"),
        ("/geometry/anchors", {"height": 2, "width": 2, "sizes": [0.5], "ratios": [1.0] * 17},
         "at most 16 items"),
        ("/geometry/anchors", {"height": 10_001, "width": 2, "sizes": [0.5], "ratios": [1]},
         "less than or equal to 10000"),
        ("/geometry/anchors",
         {"height": 2, "width": 2, "sizes": [0.5], "ratios": [1], "pixels": [[0, 0]] * 1001},
         "at most 1000 items"),
        ("/geometry/assign", {"anchors": [UNIT], "ground_truth": [[0, *UNIT]] * 1001},
         "at most 1000 items"),
        ("/geometry/assign", {"anchors": [UNIT] * 5001, "ground_truth": [[0, *UNIT]] * 1000},
         "over the cap of 5,000,000 pairs"),
        ("/geometry/detect",
         {"cls_probs": [[0.5]] * 1002, "offset_preds": [[0, 0, 0, 0]], "anchors": [UNIT]},
         "at most 1001 items"),
        ("/geometry/detect",
         {"cls_probs": [[0.5] * 10_000] * 101, "offset_preds": [[0, 0, 0, 0]] * 10_000,
          "anchors": [UNIT] * 10_000},
         "over the cap of 1,000,000"),
        ("/geometry/roi-pool",
         {"features": [[[[0.0] * 1025] * 1024]], "rois": [[0, 0, 0, 1, 1]],
          "output_size": [1, 1]},
         "over the cap of 1,048,576"),
        ("/geometry/roi-pool",
         {"features": FEATURES, "rois": [[0, 0, 0, 1, 1]] * 1001, "output_size": [1, 1]},
         "at most 1000 items"),
        ("/geometry/roi-align",
         {"features": FEATURES, "rois": [[0, 0, 0, 1, 1]], "output_size": [65, 1]},
         "less than or equal to 64"),
        ("/geometry/roi-align",
         {"features": FEATURES, "rois": [[0, 0, 0, 10**7, 10**7]], "output_size": [1, 1]},
         "bilinear samples, over the limit of 16,777,216"),
        ("/geometry/roi-pool",
         {"features": [[[[0.0] * 64] * 64]], "rois": [[0, 0, 0, 63, 63]] * 257,
          "output_size": [64, 64]},
         "the output would hold"),
        ("/geometry/conv-transpose", {"input": [[0, 1]], "kernel": [[0.0] * 257] * 256},
         "over the cap of 65,536"),
        ("/geometry/conv-transpose", {"input": [[0, 1]], "kernel": [[1]], "stride": 65},
         "less than or equal to 64"),
        ("/geometry/conv-transpose", {"input": [[0, 1]], "kernel": [[1]], "padding": 1025},
         "less than or equal to 1024"),
    ],
)  # fmt: skip
def test_every_cap_of_the_limits_table_is_refused_over_http_naming_it(client, path, body, text):
    answer = client.post(path, json=body)
    assert answer.status_code == 422
    assert text in messages(answer)
