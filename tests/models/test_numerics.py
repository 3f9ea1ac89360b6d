"""auto's choice of a model's numeric format: fast on the device and measured to keep quality."""

from __future__ import annotations

import pytest
import torch

from models import numerics
from models.errors import InvalidInputError
from models.numerics import choose_dtype, cpu_has_fast_bfloat16, fast_dtypes, tolerance_of
from tests.devices import CPU_HAS_FAST_BFLOAT16, expected_dtype

CPU = torch.device("cpu")
CUDA = torch.device("cuda", 0)
MEASURED = {"metric": "test_accuracy", "float32": 0.9008, "bfloat16": 0.9004, "float16": 0.9006}


@pytest.fixture
def bf16_cpu(monkeypatch):
    """This CPU taken for one with AVX-512 BF16, whatever it is (the choice is what is tested;
    which CPU it is, test_the_probe_agrees_with_the_cpu_flags checks)."""
    monkeypatch.setattr(numerics, "cpu_has_fast_bfloat16", lambda: True)


@pytest.fixture
def avx2_cpu(monkeypatch):
    monkeypatch.setattr(numerics, "cpu_has_fast_bfloat16", lambda: False)


def test_the_probe_agrees_with_the_cpu_flags():
    assert cpu_has_fast_bfloat16() == CPU_HAS_FAST_BFLOAT16


def test_without_fast_bfloat16_auto_keeps_float32_however_it_was_measured(avx2_cpu):
    assert fast_dtypes(CPU) == []
    choice = choose_dtype("auto", CPU, MEASURED)
    assert choice.dtype is torch.float32
    assert choice.reason == "auto: this device has no fast half-precision format"


@pytest.mark.parametrize("fast_bf16", [True, False])
@pytest.mark.parametrize("bfloat16", [0.9008, 0.9004, 0.8959, 0.8958, None])
def test_auto_follows_the_documented_table(monkeypatch, fast_bf16, bfloat16):
    monkeypatch.setattr(numerics, "cpu_has_fast_bfloat16", lambda: fast_bf16)
    measured = {"metric": "test_accuracy", "float32": 0.9008}
    if bfloat16 is not None:
        measured["bfloat16"] = bfloat16
    want = expected_dtype(measured, "cpu", fast_bf16)
    assert str(choose_dtype("auto", CPU, measured).dtype).removeprefix("torch.") == want


def test_auto_takes_bfloat16_on_such_a_cpu_when_it_keeps_the_accuracy(bf16_cpu):
    choice = choose_dtype("auto", CPU, MEASURED)
    assert choice.dtype is torch.bfloat16
    assert "0.9004" in choice.reason and "0.9008" in choice.reason


def test_auto_keeps_float32_when_bfloat16_loses_more_than_the_tolerance(bf16_cpu):
    lossy = {**MEASURED, "bfloat16": 0.9008 - 0.0051}
    choice = choose_dtype("auto", CPU, lossy)
    assert choice.dtype is torch.float32 and "bfloat16 loses 0.0051 test_accuracy" in choice.reason
    just_within = {**MEASURED, "bfloat16": 0.9008 - 0.0049}
    assert choose_dtype("auto", CPU, just_within).dtype is torch.bfloat16


@pytest.mark.parametrize(
    "numerics",
    [None, {}, {"metric": "map"}, {"float32": 0.9}, "junk", {"metric": "loss", "float32": 0.1}],
)
def test_auto_keeps_float32_for_a_model_never_measured(numerics):
    choice = choose_dtype("auto", CPU, numerics)
    assert choice.dtype is torch.float32


def test_auto_keeps_float32_where_the_format_was_not_measured():
    only_gpu = {"metric": "map", "float32": 0.76, "float16": 0.76}
    assert choose_dtype("auto", CPU, only_gpu).dtype is torch.float32


def test_a_setting_forces_the_format_whatever_was_measured():
    lossy = {**MEASURED, "bfloat16": 0.5}
    choice = choose_dtype("bfloat16", CPU, lossy)
    assert choice.dtype is torch.bfloat16 and choice.reason == "set: D2L_DTYPE=bfloat16"
    assert choose_dtype("float32", CPU, MEASURED).dtype is torch.float32
    with pytest.raises(InvalidInputError, match="float16 is for GPUs"):
        choose_dtype("float16", CPU, MEASURED)


def test_a_gpu_prefers_float16_then_bfloat16(monkeypatch):
    # Which formats a GPU has is a fact of the machine: stand one in to test the preference.
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert fast_dtypes(CUDA) == [torch.float16, torch.bfloat16]
    assert choose_dtype("auto", CUDA, MEASURED).dtype is torch.float16
    fp16_lossy = {**MEASURED, "float16": 0.80}
    assert choose_dtype("auto", CUDA, fp16_lossy).dtype is torch.bfloat16


def test_tolerances_are_per_kind_of_metric():
    assert tolerance_of("val_accuracy") == 0.005
    assert tolerance_of("map") == 0.005
    with pytest.raises(ValueError, match="'loss'"):
        tolerance_of("loss")
