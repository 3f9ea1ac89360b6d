"""The pieces of multi-process training that need no second process: how an epoch and a batch
are shared, learning-rate scaling, the launcher recorded, BatchNorm that sums over processes."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
from torch import nn

from models.train import distributed
from models.train.config import DetectConfig, TrainingError
from models.train.distributed import Runtime, example_rng
from models.train.sync_batchnorm import AllReduceBatchNorm2d, convert_to_all_reduce_batchnorm
from models.vision.classifier import build_resnet18


def runtime(rank: int, world_size: int, per_node: int | None = None) -> Runtime:
    backend = "gloo" if world_size > 1 else None
    return Runtime(rank, world_size, 0, per_node or world_size, torch.device("cpu"), backend)


@pytest.mark.parametrize("count", [40, 41, 7])
@pytest.mark.parametrize("world_size", [2, 3, 8])
def test_the_kth_batches_of_all_ranks_make_the_kth_batch_of_one_process(count, world_size):
    batch = 2 * world_size
    alone = runtime(0, 1).shard(count, seed=5, epoch=3)
    assert sorted(alone) == list(range(count))
    ranks = [runtime(rank, world_size).shard(count, seed=5, epoch=3) for rank in range(world_size)]
    assert len({len(order) for order in ranks}) == 1, "every rank takes as many steps"
    local = batch // world_size
    padded = alone + alone[: len(ranks[0]) * world_size - count]
    for step, start in enumerate(range(0, len(ranks[0]), local)):
        together = sorted(i for order in ranks for i in order[start : start + local])
        assert together == sorted(padded[step * batch : (step + 1) * batch])


def test_epochs_are_shuffled_differently_and_reproducibly():
    one = runtime(0, 1)
    assert one.shard(50, 0, 0) == one.shard(50, 0, 0)
    assert one.shard(50, 0, 0) != one.shard(50, 0, 1)
    assert one.shard(50, 0, 0) != one.shard(50, 1, 0)


def test_the_effective_batch_must_split_evenly():
    assert runtime(0, 4).local_batch(32) == 8
    with pytest.raises(
        TrainingError, match="--batch-size 30 is the effective batch .* multiple of the 4"
    ):
        runtime(0, 4).local_batch(30)
    with pytest.raises(TrainingError, match="multiple"):
        runtime(0, 4).local_batch(2)


def config(**fields: object) -> DetectConfig:
    """A detection config (its default batch, 32, is what --lr is meant for)."""
    return DetectConfig(**{"lr": 0.1, **fields})


def test_learning_rate_scaling_is_explicit_and_relative_to_a_base_batch():
    assert distributed.scaled_lr(config(batch_size=256)) == pytest.approx(0.1)
    linear = config(batch_size=256, lr_scaling="linear")
    assert distributed.scaled_lr(linear) == pytest.approx(0.8)
    root = config(batch_size=128, lr_scaling="sqrt", lr_base_batch=32)
    assert distributed.scaled_lr(root) == pytest.approx(0.2)
    with pytest.raises(TrainingError, match="--lr-base-batch 0"):
        config(lr_base_batch=0, lr_scaling="linear")


def test_the_record_and_the_launcher_say_how_the_run_was_shared():
    shared = config(batch_size=64, lr_scaling="linear", sync_bn=True)
    record = runtime(3, 16, per_node=8).record(shared, 0.2)
    assert record == {
        "world_size": 16, "backend": "gloo", "nodes": 2, "effective_batch": 64,
        "batch_per_process": 4, "lr_scaling": "linear", "lr_base_batch": 32, "lr": 0.2,
        "sync_bn": True,
    }  # fmt: skip
    assert runtime(0, 16, per_node=8).launcher() == ["torchrun", "--nnodes=2", "--nproc_per_node=8"]
    assert runtime(0, 2).launcher() == ["torchrun", "--standalone", "--nproc_per_node=2"]
    assert runtime(0, 1).launcher() == ["python"]
    assert runtime(0, 1).describe() == "1 process"


def test_an_examples_augmentation_depends_on_its_seed_epoch_and_index_only():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    with example_rng(0, 2, 17):
        first = torch.rand(4)
    assert torch.equal(torch.get_rng_state(), before), "the global generator is left as it was"
    torch.rand(100)  # whatever ran before on this process
    with example_rng(0, 2, 17):
        assert torch.equal(torch.rand(4), first)
    with example_rng(0, 2, 18):
        assert not torch.equal(torch.rand(4), first)


def test_conversion_keeps_the_parameters_and_the_state_dict():
    model = build_resnet18(3, "cifar")
    parameters = {name: id(p) for name, p in model.named_parameters()}
    keys = set(model.state_dict())
    converted = convert_to_all_reduce_batchnorm(model)
    assert {name: id(p) for name, p in converted.named_parameters()} == parameters
    assert set(converted.state_dict()) == keys
    assert isinstance(converted.bn1, AllReduceBatchNorm2d)
    assert not any(type(m) is nn.BatchNorm2d for m in converted.modules())


@pytest.fixture
def world_of_one(tmp_path):
    dist.init_process_group(
        "gloo", store=dist.FileStore(str(tmp_path / "store"), 1), rank=0, world_size=1
    )
    yield
    dist.destroy_process_group()


def test_all_reduce_batchnorm_computes_what_batchnorm_does(world_of_one):
    torch.manual_seed(0)
    plain = nn.BatchNorm2d(5)
    with torch.no_grad():
        plain.weight.uniform_(0.5, 1.5)
        plain.bias.uniform_(-1, 1)
    summed = AllReduceBatchNorm2d(5)
    summed.load_state_dict(plain.state_dict())
    for _ in range(3):  # the running statistics too, step after step
        x = torch.randn(6, 5, 4, 4) * 3 + 10
        upstream = torch.randn(6, 5, 4, 4)
        x_plain, x_summed = x.clone().requires_grad_(), x.clone().requires_grad_()
        (plain(x_plain) * upstream).sum().backward()
        (summed(x_summed) * upstream).sum().backward()
        torch.testing.assert_close(x_summed.grad, x_plain.grad, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(summed.weight.grad, plain.weight.grad, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(summed.bias.grad, plain.bias.grad)
    torch.testing.assert_close(summed.running_mean, plain.running_mean)
    torch.testing.assert_close(summed.running_var, plain.running_var)
    assert int(summed.num_batches_tracked) == 3
    summed.eval()
    plain.eval()
    x = torch.randn(2, 5, 3, 3)
    torch.testing.assert_close(summed(x), plain(x))
