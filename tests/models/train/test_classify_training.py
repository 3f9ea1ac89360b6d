"""``python -m models.train classify``: from scratch, fine-tuned the d2l way (from a checkpoint
of its own, a torchvision state dict or torchvision's ImageNet cache), resumed, recorded."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision.models import ResNet18_Weights, resnet18

from models.data.images import load_rgb
from models.train import classify
from models.train.cli import parse_config, run
from models.train.config import TrainingError
from models.vision.classifier import ImageClassifier, InputSpec, load_classifier_file
from models.vision.transforms import classification_augmentation


def train(folder: Path, output: Path, *options: str) -> dict:
    args = parse_config("classify",
        ["--data", str(folder), "--image-size", "16", "--batch-size", "12", "--output",
         str(output), "--no-progress", *options]
    )  # fmt: skip
    return classify.train(args).card


def test_training_from_scratch_learns_and_records_everything(
    colour_classifier: Path, colour_folder: Path
):
    model, card = load_classifier_file(colour_classifier)
    assert card.classes == ["blue", "green", "red"]
    assert card.stem == "cifar"
    assert (card.spec.input_size, card.spec.resize_size) == (16, 18)
    assert card.info["metrics"]["val_accuracy"] >= 0.9  # the colours are easy
    assert len(card.info["metrics"]["epochs"]) == 6
    assert card.info["command"].startswith("python -m models.train classify --data ")
    assert card.info["source"] == {"pretrained": "none"}
    assert colour_classifier.with_suffix(".png").stat().st_size > 1000
    state = torch.load(colour_classifier.with_suffix(".ckpt.pt"), weights_only=True)
    assert state["epoch"] == 6 and len(state["history"]) == 6
    assert state["args"]["data"] == str(colour_folder)
    assert {"model", "optimizer", "schedule"} <= state.keys()


def test_fine_tuning_keeps_the_source_body_and_trains_a_new_head_ten_times_faster(
    colour_classifier: Path, colour_folder: Path, tmp_path: Path
):
    source, source_card = load_classifier_file(colour_classifier)
    output = tmp_path / "tuned.safetensors"
    info = train(
        colour_folder, output, "--pretrained", str(colour_classifier), "--epochs", "1",
        "--lr", "0.001", "--head-lr-mult", "10", "--freeze-body", "--manifest",
        str(tmp_path / "manifest.json"), "--name", "tuned",
    )  # fmt: skip
    tuned, card = load_classifier_file(output)
    assert card.stem == source_card.stem and card.spec.mean == source_card.spec.mean
    assert info["source"]["pretrained"] == colour_classifier.name
    for name, parameter in source.named_parameters():
        if not name.startswith("fc."):  # frozen body: exactly the source's
            assert torch.equal(parameter, tuned.get_parameter(name)), name
    assert not torch.equal(source.fc.weight, tuned.fc.weight)
    optimizer = torch.load(output.with_suffix(".ckpt.pt"), weights_only=True)["optimizer"]
    assert [g["lr"] for g in optimizer["param_groups"]] == pytest.approx([0.001, 0.01])
    (entry,) = json.loads((tmp_path / "manifest.json").read_text())["models"]
    assert entry["name"] == "tuned" and entry["task"] == "classify"
    assert entry["architecture"] == "resnet18" and entry["input_size"] == 16
    assert entry["classes"] == ["blue", "green", "red"]
    assert "val_accuracy" in entry["metrics"]


def test_the_imagenet_route_reads_torchvisions_cache(colour_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    name = Path(ResNet18_Weights.IMAGENET1K_V1.url).name
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.manual_seed(2)
    imagenet = resnet18()
    torch.save(imagenet.state_dict(), tmp_path / "hub" / "checkpoints" / name)
    output = tmp_path / "from-imagenet.safetensors"
    # lr 0: the stored body is exactly the cached ImageNet one (rounded to float16)
    info = train(
        colour_folder, output, "--pretrained", "imagenet", "--epochs", "1", "--lr", "0", "--half"
    )
    tuned, card = load_classifier_file(output)
    assert card.stem == "imagenet" and info["source"]["pretrained"] == "imagenet"
    assert torch.equal(tuned.conv1.weight, imagenet.conv1.weight.half().float())
    assert card.info["dtype"] == "float16"
    assert {"val_accuracy", "val_accuracy_float32"} <= card.info["metrics"].keys()
    # A torchvision state dict given by path is the same source.
    by_path = train(
        colour_folder, tmp_path / "by-path.safetensors", "--pretrained",
        str(tmp_path / "hub" / "checkpoints" / name), "--epochs", "1",
    )  # fmt: skip
    assert by_path["stem"] == "imagenet"


def test_resume_continues_where_the_checkpoint_stopped(colour_folder: Path, tmp_path: Path):
    output = tmp_path / "r.safetensors"
    first = train(colour_folder, output, "--stem", "cifar", "--epochs", "1", "--lr", "0.005")
    resumed = train(
        colour_folder, output, "--stem", "cifar", "--epochs", "2", "--lr", "0.005", "--resume"
    )
    epochs = resumed["metrics"]["epochs"]
    assert [row["epoch"] for row in epochs] == [1, 2]
    assert epochs[0] == first["metrics"]["epochs"][0]


def test_bad_options_raise_a_training_error_and_the_command_exits_with_it(
    colour_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    with pytest.raises(TrainingError, match="no such file"):
        train(colour_folder, tmp_path / "x.safetensors", "--pretrained", "absent.safetensors")
    with pytest.raises(TrainingError, match="--epochs 0: at least 1"):
        train(colour_folder, tmp_path / "x.safetensors", "--epochs", "0")
    with pytest.raises(TrainingError, match="a probability"):
        train(colour_folder, tmp_path / "x.safetensors", "--random-erasing", "1.5")
    with pytest.raises(TrainingError, match="--resume absent.ckpt.pt: no such checkpoint"):
        train(colour_folder, tmp_path / "x.safetensors", "--resume", "absent.ckpt.pt")
    with pytest.raises(SystemExit, match="classify: --lr-base-batch 0: a batch size"):
        run(["classify", "--data", str(colour_folder), "--lr-base-batch", "0"])


def test_random_erasing_paints_a_rectangle_in_the_mean_colour():
    """Cutout on uint8 images: the erased pixels normalise to zero, the rest are untouched."""
    args = parse_config(
        "classify", ["--train-crop", "padded", "--random-erasing", "1", "--image-size", "32"]
    )
    spec = InputSpec.for_size(input_size=32, resize_size=32)
    image = torch.full((3, 32, 32), 7, dtype=torch.uint8)
    torch.manual_seed(0)
    augmented = classification_augmentation(
        spec.input_size, spec.mean, args.train_crop, args.min_scale, args.random_erasing
    )(image)
    mean_colour = torch.tensor([round(255 * m) for m in spec.mean], dtype=torch.uint8)
    erased = (augmented == mean_colour.view(3, 1, 1)).all(dim=0)
    assert erased.any()
    rows, cols = erased.nonzero().unbind(1)
    assert erased[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()  # one rectangle
    assert set(augmented[:, ~erased].unique().tolist()) <= {0, 7}  # original or padding
    normalised = spec.normalize(augmented.unsqueeze(0))[0][:, erased]
    assert normalised.abs().max() < 0.02


def test_training_on_the_source_classes_keeps_its_output_layer(
    colour_classifier: Path, colour_folder: Path, tmp_path: Path
):
    """A second stage on the same data continues the source rather than starting a head."""
    source, _ = load_classifier_file(colour_classifier)
    output = tmp_path / "stage2.safetensors"
    info = train(
        colour_folder, output, "--pretrained", str(colour_classifier), "--epochs", "1",
        "--lr", "0", "--head-lr-mult", "1",
    )  # fmt: skip
    continued, _ = load_classifier_file(output)
    assert torch.equal(continued.fc.weight, source.fc.weight)
    assert info["source"]["classes"] == ["blue", "green", "red"]
    assert info["metrics"]["val_accuracy"] >= 0.9  # the source's head still answers


def test_half_records_the_accuracy_of_the_float16_file_it_writes(colour_folder, tmp_path):
    """The recorded val accuracy is measured on the weights as stored (float16), here checked
    by serving the written file on the validation images, as the service would."""
    output = tmp_path / "half.safetensors"
    info = train(colour_folder, output, "--stem", "cifar", "--epochs", "1", "--lr", "0", "--half")
    model, card = load_classifier_file(output)
    classifier = ImageClassifier(model, card, torch.device("cpu"))
    paths = sorted((colour_folder / "val").glob("*/*"))
    images = [load_rgb(Image.open(path), classifier.decode_side) for path in paths]
    predictions = classifier.classify(images, top_k=1)
    served = sum(p[0].label == path.parent.name for p, path in zip(predictions, paths, strict=True))
    assert info["dtype"] == "float16"
    assert served / len(paths) == pytest.approx(info["metrics"]["val_accuracy"], abs=1e-6)
    assert "val_accuracy_float32" in info["metrics"]
    # lr 0: the initial weights (BatchNorm statistics still learn), right on some photos only,
    # so the equality above is informative.
    assert 0 < served < len(paths)


def test_the_python_example_of_the_training_docs_runs_as_written(
    colour_folder: Path, colour_classifier: Path, tmp_path: Path, capsys
):
    """docs/training.md's ``train(ClassifyConfig(...))`` example, on the colour set."""
    text = (Path(__file__).resolve().parents[3] / "docs" / "training.md").read_text()
    (example,) = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    for documented, here in [
        ('"../shared/data/hymenoptera"', repr(str(colour_folder))),
        ('"weights/resnet18-cifar10.safetensors"', repr(str(colour_classifier))),
        ("input_size=96", "input_size=16"),
        ('"runs/mine.safetensors"', repr(str(tmp_path / "mine.safetensors"))),
    ]:
        assert documented in example
        example = example.replace(documented, here)
    exec(compile(example, "docs/training.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "100% loss " in printed and f"{tmp_path / 'mine.safetensors'} " in printed
    assert (tmp_path / "mine.safetensors").is_file()
