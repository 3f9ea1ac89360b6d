"""bench/gpu.py is meant to run in one call on a lent GPU machine; here its CPU path runs end to
end with tiny sizes, so the script is known to work before a GPU is ever lent."""

from __future__ import annotations

import json

import pytest
import torch

from bench import gpu

pytestmark = pytest.mark.integration  # a benchmark run end to end


def test_the_gpu_bench_runs_on_the_cpu_and_writes_its_table(tmp_path, capsys):
    args = gpu.get_args_parser().parse_args(["--smoke", "--out", str(tmp_path)])
    result = gpu.main(args)
    written = json.loads((tmp_path / "gpu.json").read_text())
    if torch.cuda.is_available():  # the bench runs on the GPU when there is one
        assert written["device"] == torch.cuda.get_device_name() and written["dtype"] != "float32"
    else:
        assert written["device"] == "cpu" and written["dtype"] == "float32"
    for path in ("classify", "detect"):
        rows = written[path]
        assert [row["concurrency"] for row in rows] == [1, 4]
        assert all(row["requests"] > 0 and row["errors"] == 0 for row in rows)
    assert set(written["model_ceiling"]) == {"resnet18_224", "tinyssd_256"}
    assert written["decode_ceiling"]["pillow_one_core"] > 0
    assert result["classify"][0]["requests_per_second"] > 0
    assert "| /classify | 4 |" in capsys.readouterr().out
