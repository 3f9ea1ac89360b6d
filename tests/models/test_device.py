from __future__ import annotations

import pytest
import torch

from models.device import describe_device, resolve_device
from models.errors import InvalidInputError


def test_auto_takes_a_gpu_only_when_there_is_one():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert describe_device(torch.device("cpu")) == "cpu"


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU"
)
def test_asking_for_a_missing_gpu_is_an_error_not_a_silent_fallback():
    with pytest.raises(InvalidInputError, match="no CUDA GPU is available"):
        resolve_device("cuda:0")


def test_unknown_devices_are_refused():
    with pytest.raises(InvalidInputError, match="use auto, cpu, cuda or cuda:N"):
        resolve_device("tpu")
    with pytest.raises(InvalidInputError, match="use auto, cpu, cuda or cuda:N"):
        resolve_device("meta")
