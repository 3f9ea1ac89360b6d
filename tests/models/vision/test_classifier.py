"""ResNet-18 classification: stems, d2l's new head and parameter groups, the shared
evaluation transform, checkpoints, and the servable classifier."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file
from torchvision.models import ResNet18_Weights, resnet18
from torchvision.transforms import v2

from models.errors import InvalidInputError
from models.vision.classifier import (
    ClassifierCard,
    ImageClassifier,
    InputSpec,
    build_resnet18,
    imagenet_resnet18,
    load_classifier_file,
    param_groups,
    replace_head,
    save_classifier,
)
from tests.images import noise_image


def test_the_cifar_stem_keeps_small_images_at_full_resolution():
    imagenet, cifar = build_resnet18(10), build_resnet18(10, "cifar")
    assert imagenet.conv1.kernel_size == (7, 7) and imagenet.conv1.stride == (2, 2)
    assert cifar.conv1.kernel_size == (3, 3) and cifar.conv1.stride == (1, 1)
    assert isinstance(cifar.maxpool, torch.nn.Identity)
    sizes = {}
    cifar.layer1.register_forward_hook(lambda m, i, o: sizes.update(layer1=o.shape))
    assert cifar(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert sizes["layer1"][-2:] == (32, 32)
    # Apart from the stem, the layers are the same: weights move between the two.
    body = {k: v.shape for k, v in imagenet.state_dict().items() if not k.startswith("conv1")}
    assert body == {k: v.shape for k, v in cifar.state_dict().items() if not k.startswith("conv1")}
    with pytest.raises(InvalidInputError, match="stem 'tiny'"):
        build_resnet18(10, "tiny")


def test_the_new_head_is_xavier_initialised_and_the_body_kept():
    torch.manual_seed(0)
    model = build_resnet18(1000)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    replace_head(model, 2)
    assert model.fc.weight.shape == (2, 512)
    bound = math.sqrt(6 / (512 + 2))  # Xavier uniform
    assert model.fc.weight.detach().abs().max() <= bound
    assert model.fc.weight.detach().std() == pytest.approx(bound / math.sqrt(3), rel=0.1)
    assert torch.equal(model.fc.bias.detach(), torch.zeros(2))
    for key, value in model.state_dict().items():
        if not key.startswith("fc."):
            assert torch.equal(value, before[key])


def test_param_groups_put_the_head_at_ten_times_the_body_rate():
    model = build_resnet18(5)
    body, head = param_groups(model, 5e-5, 10)
    assert (body["lr"], head["lr"]) == (5e-5, pytest.approx(5e-4))
    assert {id(p) for p in head["params"]} == {id(model.fc.weight), id(model.fc.bias)}
    every = {id(p) for p in model.parameters()}
    assert {id(p) for p in body["params"]} == every - {id(p) for p in head["params"]}
    for parameter in model.parameters():
        parameter.requires_grad = False
    model.fc.weight.requires_grad = model.fc.bias.requires_grad = True
    assert param_groups(model, 0.1, 10)[0]["params"] == []  # a frozen body trains nothing


def test_the_evaluation_transform_resizes_the_shorter_side_then_crops_the_centre():
    spec = InputSpec.for_size(224)
    assert spec.resize_size == 256
    image = noise_image((500, 375), 60).convert("RGB")
    expected = v2.Compose([v2.PILToTensor(), v2.Resize(256, antialias=True), v2.CenterCrop(224)])
    assert torch.equal(spec.eval_transform(image), expected(image))
    batch = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    normalised = spec.normalize(batch)
    assert normalised[0, :, 0, 0].tolist() == pytest.approx(
        [(1 - m) / s for m, s in zip(spec.mean, spec.std, strict=True)]
    )
    with pytest.raises(InvalidInputError, match="resize size 20"):
        InputSpec(32, 20)


def _card(classes: list[str]) -> ClassifierCard:
    return ClassifierCard(classes, "cifar", InputSpec.for_size(16), {"metrics": {"acc": 0.5}})


def test_a_checkpoint_round_trips_in_half_precision(tmp_path: Path):
    model = build_resnet18(3, "cifar")
    path = tmp_path / "m.safetensors"
    save_classifier(path, model, _card(["a", "b", "c"]), half=True)
    loaded, card = load_classifier_file(path)
    assert card == _card(["a", "b", "c"])
    for key, value in model.state_dict().items():
        expected = value.half().float() if value.is_floating_point() else value
        assert torch.equal(loaded.state_dict()[key], expected), key
    assert path.stat().st_size < 23_000_000  # 11.2M parameters at two bytes each
    other = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(1)}, str(other))
    with pytest.raises(InvalidInputError, match="not a d2l-serve classifier"):
        load_classifier_file(other)


def test_the_classifier_answers_sorted_probabilities_and_caps_top_k(tmp_path: Path):
    torch.manual_seed(0)
    model = build_resnet18(3, "cifar")
    path = tmp_path / "m.safetensors"
    save_classifier(path, model, _card(["a", "b", "c"]))
    classifier = ImageClassifier.load(path, torch.device("cpu"))
    images = [noise_image((40, 30), 60).convert("RGB"), Image.new("RGB", (16, 50))]
    batch = torch.stack([classifier.preprocess(image) for image in images])
    probabilities = classifier.predict(batch)
    assert probabilities.shape == (2, 3)
    assert probabilities.sum(dim=1).tolist() == pytest.approx([1.0, 1.0])
    answers = classifier.classify(images, top_k=10)
    for row, answer in zip(probabilities, answers, strict=True):
        assert [p.class_id for p in answer] == row.argsort(descending=True).tolist()
        assert [p.label for p in answer] == [["a", "b", "c"][p.class_id] for p in answer]
        assert [p.score for p in answer] == pytest.approx(sorted(row.tolist(), reverse=True))
    assert [len(a) for a in classifier.classify(images, top_k=1)] == [1, 1]
    # A batch answers each image as it is answered alone.
    alone = classifier.classify(images[1:], top_k=3)[0]
    assert [p.score for p in alone] == pytest.approx([p.score for p in answers[1]], abs=1e-5)


def test_imagenet_weights_come_from_torch_hub_cache_without_a_download(tmp_path, monkeypatch):
    # What torchvision would have downloaded, written where its cache keeps it.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(1)
    source = resnet18()
    name = Path(ResNet18_Weights.IMAGENET1K_V1.url).name
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(source.state_dict(), tmp_path / "hub" / "checkpoints" / name)
    model = imagenet_resnet18(progress=False)
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value)
