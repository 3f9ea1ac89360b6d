"""python -m models.evaluate: a model's quality in each numeric format, recorded in the manifest
and read by D2L_DTYPE=auto."""

from __future__ import annotations

import json

import pytest

from models import evaluate, numerics
from models.manifest import read_manifest
from tests.devices import CPU_HAS_FAST_BFLOAT16, ON_GPU


def colour_entry(manifest):
    document = json.loads(manifest.read_text())
    return document, document["models"][0]


@pytest.fixture
def measured_manifest(colour_manifest, colour_folder):
    """The colour classifier's manifest saying which data it was trained on."""
    document, entry = colour_entry(colour_manifest)
    entry["data"] = {"name": str(colour_folder)}
    colour_manifest.write_text(json.dumps(document))
    return colour_manifest


def run(manifest, *options):
    args = evaluate.get_args_parser().parse_args(["colours", "--manifest", str(manifest), *options])
    return evaluate.main(args)


def test_the_recorded_accuracy_is_what_the_service_answers(
    make_client, measured_manifest, colour_folder
):
    report = run(measured_manifest, "--device", "cpu", "--write")["colours"]
    numerics = read_manifest(measured_manifest)[0].info["numerics"]
    assert numerics == report
    assert numerics["metric"] == "val_accuracy" and numerics["measured_on"] == "cpu"
    assert set(numerics) >= {"float32", *(["bfloat16"] if CPU_HAS_FAST_BFLOAT16 else [])}
    # The same figure, counted from the answers of the running service in float32.
    client = make_client(
        manifest_path=measured_manifest, default_classify_model="colours", dtype="float32"
    )
    photos = sorted((colour_folder / "val").rglob("*.*"))
    right = 0
    for photo in photos:
        answer = client.post("/classify", files={"file": (photo.name, photo.read_bytes())})
        right += answer.json()["predictions"][0]["label"] == photo.parent.name
    assert numerics["float32"] == right / len(photos)


def test_dtype_lists_and_their_mistakes(measured_manifest):
    assert set(run(measured_manifest, "--device", "cpu", "--dtype", "float32")["colours"]) == {
        "metric", "float32", "measured_on", "command"
    }  # fmt: skip
    with pytest.raises(SystemExit, match="--dtype takes all or names among"):
        run(measured_manifest, "--dtype", "int8")
    args = evaluate.get_args_parser().parse_args(["nope", "--manifest", str(measured_manifest)])
    with pytest.raises(SystemExit, match="not in .*: nope"):
        evaluate.main(args)


@pytest.mark.skipif(ON_GPU, reason="the CPU's formats: on a GPU host auto picks the GPU's")
@pytest.mark.parametrize("fast_bf16", [True, False], ids=["avx512-bf16-cpu", "avx2-cpu"])
def test_auto_serves_the_format_that_was_measured_to_keep_quality(
    make_client, colour_manifest, monkeypatch, fast_bf16
):
    # Which kind of CPU this is, forced (bfloat16 computes on any x86 CPU, fast or not): the
    # choice is checked for both kinds whichever runs the tests.
    monkeypatch.setattr(numerics, "cpu_has_fast_bfloat16", lambda: fast_bf16)
    document, entry = colour_entry(colour_manifest)
    for bfloat16, served in ((0.999, "bfloat16"), (0.9, "float32")):
        entry["numerics"] = {"metric": "val_accuracy", "float32": 1.0, "bfloat16": bfloat16}
        colour_manifest.write_text(json.dumps(document))
        client = make_client(manifest_path=colour_manifest, default_classify_model="colours")
        (model,) = client.get("/models").json()["models"]
        expected = served if fast_bf16 else "float32"
        assert model["dtype"] == expected
        assert model["dtype_reason"].startswith("auto: ")
        assert ("within 0.005" in model["dtype_reason"]) == (expected == "bfloat16")
        if not fast_bf16:
            assert model["dtype_reason"] == "auto: this device has no fast half-precision format"
