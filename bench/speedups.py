"""Which speed-ups beyond the numeric format pay off for a served classifier on this machine.

The model alone (preprocessed 64 px inputs, the committed ``resnet18-hymenoptera`` by default)
at batch 1 and 16, images/s, for: eager float32 and bfloat16 (what serving runs today,
channels-last), ``torch.compile`` (Inductor; gcc builds its kernels) of each, and int8 (PyTorch
2 export quantization with torchao's X86 Inductor quantizer, calibrated on the training photos,
then compiled), TorchScript frozen and optimised for inference (``+jit``: oneDNN's conv, batch
norm and ReLU fusion), and one intra-op thread (``@1thread``: what each of two single-threaded
workers would get on a 2-core machine); then the accuracy of every variant on the model's
validation photos, so a speed-up is only adopted with its quality (the tolerance of
:mod:`models.numerics`).

    python -m bench.speedups [--model resnet18-hymenoptera] [--seconds 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from bench.server import ROOT, images_per_second, machine, write_result
from models.data.folders import read_image_folder, resolve_image_folder
from models.manifest import read_manifest
from models.vision.classifier import ImageClassifier

VARIANTS = (
    "float32",
    "bfloat16",
    "float32+compile",
    "bfloat16+compile",
    "int8+compile",
    "float32+jit",
    "bfloat16+jit",
    "bfloat16@1thread",
)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18-hymenoptera")
    parser.add_argument("--seconds", type=float, default=5.0, help="per variant and batch size")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "speedups.json")
    return parser


def build(
    entry_file: Path, variant: str, calibration: list[torch.Tensor]
) -> tuple[ImageClassifier, float]:
    """The classifier of ``variant`` and the seconds its compilation took (0 when eager)."""
    dtype = torch.bfloat16 if variant.startswith("bfloat16") else torch.float32
    classifier = ImageClassifier.load(entry_file, torch.device("cpu"), dtype)
    started = time.perf_counter()
    if variant.endswith("+jit"):
        classifier.model = frozen(classifier)
        return classifier, time.perf_counter() - started
    if not variant.endswith("+compile"):
        return classifier, 0.0
    if variant.startswith("int8"):
        classifier.model = quantized(classifier, calibration)
    classifier.model = torch.compile(classifier.model)
    side = classifier.input_size
    for size in (1, 16):  # compile for the batch sizes measured (dynamic shapes after two)
        classifier.predict(torch.zeros(size, 3, side, side, dtype=torch.uint8))
    return classifier, time.perf_counter() - started


def frozen(classifier: ImageClassifier) -> torch.nn.Module:
    """The classifier's model traced, frozen and optimised for inference (oneDNN fusion)."""
    side = classifier.input_size
    example = torch.zeros(16, 3, side, side, dtype=classifier.dtype)
    example = example.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        traced = torch.jit.trace(classifier.model.eval(), example)
        return torch.jit.optimize_for_inference(torch.jit.freeze(traced))


def quantized(classifier: ImageClassifier, calibration: list[torch.Tensor]) -> torch.nn.Module:
    """The classifier's model in int8: exported, observed on ``calibration`` inputs, converted."""
    from torchao.quantization.pt2e.quantize_pt2e import (  # noqa: PLC0415 - bench extra
        convert_pt2e,
        prepare_pt2e,
    )
    from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import (  # noqa: PLC0415
        X86InductorQuantizer,
        get_default_x86_inductor_quantization_config,
    )

    def inputs(batch: torch.Tensor) -> torch.Tensor:
        normal = classifier.spec.normalize(batch, torch.float32)
        return normal.contiguous(memory_format=torch.channels_last)

    example = inputs(torch.stack(calibration[:16]))
    batch = torch.export.Dim("batch", min=1, max=1024)
    # strict=True: the non-strict trace of the residual blocks trips the quantizer's pattern
    # matcher ("Input partition has more than one output node", torchao 0.18, torch 2.14).
    exported = torch.export.export(
        classifier.model, (example,), dynamic_shapes=({0: batch},), strict=True
    ).module()
    quantizer = X86InductorQuantizer()
    quantizer.set_global(get_default_x86_inductor_quantization_config())
    prepared = prepare_pt2e(exported, quantizer)
    with torch.no_grad():
        for start in range(0, len(calibration), 32):
            prepared(inputs(torch.stack(calibration[start : start + 32])))
    return convert_pt2e(prepared)


def main(args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    entries = {e.name: e for e in read_manifest(ROOT / "weights" / "manifest.json")}
    entry = entries[args.model]
    photos = resolve_image_folder(str(entry.info["data"]["name"]))
    result: dict = {"machine": machine(), "model": args.model, "variants": {}}
    first = ImageClassifier.load(entry.file, torch.device("cpu"))
    images = read_image_folder(photos, "eval", first.preprocess, first.decode_side, first.classes)
    calibration = read_image_folder(
        photos, "train", first.preprocess, first.decode_side, first.classes
    ).images
    threads = torch.get_num_threads()
    for variant in args.variants:
        torch.set_num_threads(1 if variant.endswith("@1thread") else threads)
        classifier, compile_seconds = build(entry.file, variant, calibration)
        side = classifier.input_size
        row: dict = {"compile_seconds": round(compile_seconds, 1)}
        for size in args.batch_sizes:
            batch = torch.randint(0, 256, (size, 3, side, side), dtype=torch.uint8)
            classifier.predict(batch)  # warm
            row[f"batch_{size}"] = round(
                images_per_second(lambda b=batch, c=classifier: c.predict(b), size, args.seconds),
                1,
            )
        right = 0
        for start in range(0, len(images), 16):
            chunk = torch.stack(images.images[start : start + 16])
            guesses = classifier.predict(chunk).argmax(dim=1)
            right += int((guesses == images.labels[start : start + 16]).sum())
        row["accuracy"] = round(right / len(images), 4)
        result["variants"][variant] = row
        print(f"{variant}: {row}", flush=True)
    torch.set_num_threads(threads)
    write_result(result, args.output)
    return result


if __name__ == "__main__":
    main(get_args_parser().parse_args())
