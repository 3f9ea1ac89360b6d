"""The CUDA path, run on a GPU machine (skipped elsewhere): float16 weights in channels-last,
the same classes as on the CPU, GPU memory in the metrics."""

from __future__ import annotations

import torch

from app.serving.tasks.classify import ClassifyTask
from tests.app.test_batching import _sample, post_image
from tests.devices import needs_cuda
from tests.images import BLUE, GREEN, RED

pytestmark = needs_cuda


def test_float16_serves_on_the_gpu_in_channels_last(make_client, colour_manifest):
    client = make_client(
        manifest_path=colour_manifest, default_classify_model="colours", dtype="float16"
    )
    (model,) = client.get("/models").json()["models"]
    assert model["device"].startswith("cuda:0") and model["dtype"] == "float16"
    served = client.app.state.registry.get("colours", ClassifyTask).task.classifier
    conv = served.model.conv1.weight
    assert conv.is_cuda and conv.dtype == torch.float16
    assert conv.is_contiguous(memory_format=torch.channels_last)
    labels = [
        post_image(client, colour, seed=3).json()["predictions"][0]["label"]
        for colour in (RED, GREEN, BLUE)
    ]
    assert labels == ["red", "green", "blue"]
    metrics = client.get("/metrics").text
    assert _sample(metrics, 'd2l_gpu_memory_bytes{device="cuda:0",kind="allocated"}') > 0


def test_the_gpu_answers_as_the_cpu_does(make_client, colour_manifest):
    answers = {}
    for device in ("cpu", "cuda"):
        client = make_client(
            manifest_path=colour_manifest, default_classify_model="colours", device=device
        )
        answers[device] = [
            post_image(client, colour, seed=5, query="?top_k=3").json()["predictions"]
            for colour in (RED, GREEN, BLUE)
        ]
    for cpu, gpu in zip(answers["cpu"], answers["cuda"], strict=True):
        assert [p["label"] for p in cpu] == [p["label"] for p in gpu]
        for p, q in zip(cpu, gpu, strict=True):
            assert abs(p["score"] - q["score"]) < 1e-2  # float16 keeps about three decimals
