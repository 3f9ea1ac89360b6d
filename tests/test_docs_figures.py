"""The figures the README and docs state, checked against what they come from: the manifest's
measurements and the benchmark results in ``bench/results``. Change a model or rerun a
benchmark and this fails until the prose says what was measured."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.devices import expected_dtype

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
MANIFEST = {
    m["name"]: m for m in json.loads((ROOT / "weights/manifest.json").read_text())["models"]
}
RESULTS = ROOT / "bench" / "results"
IMAGE_MODELS = [name for name, m in MANIFEST.items() if m["task"] in {"classify", "detect"}]
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


def result(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def shown(text: str, value: float) -> bool:
    """``value`` agrees with the figure ``text`` to the decimals shown (0.808 for 0.8088)."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return abs(value - float(text.replace(",", ""))) < 10.0**-decimals


def row(model: str) -> str:
    """The README's 'What it serves' row of ``model``."""
    (line,) = [line for line in README.splitlines() if line.startswith(f"| `{model}`")]
    return line


def photo_figures(photos: dict) -> list[str]:
    """How the README words a detector's real-photo figures."""
    false = photos["photos_false_boxes"]
    return [
        f"{photos['photos_clear_found']} of {photos['photos_clear_total']} clear seals",
        f"{photos['photos_hard_found']} of {photos['photos_hard_total']} small ones",
        "no false box" if false == 0 else f"{false} false box",
        f"{photos['negatives_false_boxes']} box"
        + ("es" if photos["negatives_false_boxes"] != 1 else "")
        + f" on {photos['negatives_photos']} photos without the seal",
    ]


@pytest.mark.parametrize("model", ["tinyssd-logo", "fasterrcnn-logo"])
def test_the_readme_states_each_detector_s_measured_figures(model):
    text = row(model)
    photos = MANIFEST[model]["numerics"]["float32_photos"]
    for figure in photo_figures(photos):
        assert figure in text, f"{model}: the README lacks {figure!r}"
    (map_50,) = re.findall(r"mAP@0\.5 ([\d.]+)", text)
    assert shown(map_50, MANIFEST[model]["metrics"]["map_50"])
    if photos["score_threshold"] != 0.5:
        assert f"calibrated score threshold {photos['score_threshold']:g}" in text
    sets = MANIFEST[model]["false_alarms"]["sets"]
    (backgrounds, composites) = re.findall(
        r"held-out seal-free photos: ([\d.]+) \(backgrounds\), ([\d.]+) \(distractor composites\)",
        text,
    )[0]
    assert shown(backgrounds, sets["heldout-backgrounds"]["false_boxes_per_100"])
    assert shown(composites, sets["distractor-composites"]["false_boxes_per_100"])


def test_the_readme_states_the_classifiers_measured_accuracy():
    (hymenoptera,) = re.findall(
        r"([\d.]+) on the 153 validation photos", row("resnet18-hymenoptera")
    )
    assert shown(hymenoptera, MANIFEST["resnet18-hymenoptera"]["metrics"]["val_accuracy"])
    (cifar,) = re.findall(r"([\d.]+) on the 5,000 test images", row("resnet18-cifar10"))
    assert shown(cifar, MANIFEST["resnet18-cifar10"]["metrics"]["test_accuracy"])


def test_the_readme_states_the_word_vectors_probe():
    text = row("word2vec-skipgram-ptb")
    for word, similarity in MANIFEST["word2vec-skipgram-ptb"]["probes"]["chip"][:2]:
        (figure,) = re.findall(rf"{word} ([\d.]+)", text)
        assert shown(figure, similarity), f"{word}: {figure} is not {similarity}"


def test_the_readme_says_which_models_auto_serves_in_bfloat16():
    on_bf16_cpu = [
        m
        for m in IMAGE_MODELS
        if expected_dtype(MANIFEST[m].get("numerics"), "cpu", True) == "bfloat16"
    ]
    assert len(on_bf16_cpu) == len(IMAGE_MODELS), "the README says every image model"
    assert f"bfloat16 for all {NUMBER_WORDS[len(IMAGE_MODELS)]} image models" in README


def test_the_readme_speed_figures_are_the_benchmark_s():
    ratios = result("serving.json")["ratios"]
    for figure, measured in [
        ("answers {}x LitServe's", ratios["d2l_serve_over_litserve"]),
        ("({}x LitServe in bfloat16)", ratios["d2l_serve_over_litserve_bfloat16"]),
        ("and {}x a naive", ratios["d2l_serve_over_naive_fastapi"]),
    ]:
        assert figure.format(f"{measured:.2f}") in " ".join(README.split()), figure
    overload = {(r["clients"], r["connections"]): r for r in result("overload.json")["overload"]}
    goodput = overload[("retry at once", 400)]["goodput_vs_16"]
    assert f"keeps {goodput:.2f} of its 16-connection goodput" in " ".join(README.split())


def test_the_failover_table_is_the_benchmark_s():
    measured = result("failover.json")
    cells = [
        measured[key]
        for key in (
            "requests_sent",
            "answered_200",
            "failed",
            "retried_by_haproxy",
            "redispatched_by_haproxy",
            "served_by_killed_replica",
            "served_by_survivor",
        )
    ]
    line = " | ".join(str(c) if i != 2 else f"**{c}**" for i, c in enumerate(cells))
    assert f"| {line} |" in (ROOT / "docs" / "deployment.md").read_text()
    assert f"lost none of {measured['requests_sent']} requests" in " ".join(README.split())
    assert measured["failed"] == 0


def test_the_adversarial_table_is_the_benchmark_s():
    text = (ROOT / "docs" / "hardening.md").read_text()
    for name, label in (("adversarial.json", "now"), ("adversarial-before.json", "before")):
        measured = result(name)
        (line,) = [line for line in text.splitlines() if line.startswith(f"| {label}")]
        answers: dict[str, int] = {}
        for round_ in measured["rounds"]:
            for key, count in round_["answers"].items():
                answers[key] = answers.get(key, 0) + count
        for key, count in answers.items():
            kind, status = key.split()
            assert f"{count:,} x {status}" in line, f"{label}: {key} {count}"
        memory = measured["rss_mb"]
        assert f"{memory['start']:,}, {memory['peak']:,}, {memory['settled']:,} MB" in line
