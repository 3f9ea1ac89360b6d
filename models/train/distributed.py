"""Training on several processes: torchrun's environment, DistributedDataParallel, each
process's share of every batch, and figures summed over all processes.

Launched by ``torchrun`` (which sets RANK, WORLD_SIZE and LOCAL_RANK) a training command joins
the process group, NCCL on GPUs and Gloo on CPUs; launched plainly it is a world of one and
nothing here changes what it does.

What a run learns does not depend on how many processes share it:

- each epoch's order is one permutation seeded by (seed, epoch), dealt out rank by rank by
  :class:`~torch.utils.data.DistributedSampler`, so the k-th step's batch over all ranks is the
  k-th batch of a single process with the same ``--batch-size`` (the effective batch);
- each example's augmentation draws from a generator seeded by (seed, epoch, index);
- DDP averages the gradients of equal local batches, which is the gradient of the whole batch;
- with ``--sync-bn`` BatchNorm's statistics are those of the whole batch too.

So N processes train, to rounding, the model one process trains, and a checkpoint resumes at
any world size.
"""

from __future__ import annotations

import builtins
import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DistributedSampler

from models.device import describe_device, resolve_device
from models.train.config import TrainConfig, TrainingError
from models.train.sync_batchnorm import convert_to_all_reduce_batchnorm


def base_batch(config: TrainConfig) -> int:
    """The batch size ``config.lr`` is meant for: ``lr_base_batch``, else the task's default
    batch size."""
    return type(config).batch_size if config.lr_base_batch is None else config.lr_base_batch


def scaled_lr(config: TrainConfig) -> float:
    """``lr`` scaled by ``lr_scaling`` for the effective batch ``batch_size``."""
    base = base_batch(config)
    if base < 1:
        raise TrainingError(f"--lr-base-batch {base}: a batch size, at least 1")
    ratio = config.batch_size / base
    factor = {"none": 1.0, "linear": ratio, "sqrt": ratio**0.5}[config.lr_scaling]
    return config.lr * factor


@dataclass(frozen=True)
class Runtime:
    """Where this process stands: its rank among ``world_size`` processes, its device and the
    process group's backend (``None`` for a world of one)."""

    rank: int
    world_size: int
    local_rank: int
    local_world_size: int
    device: torch.device
    backend: str | None

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that logs and writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def nodes(self) -> int:
        return self.world_size // self.local_world_size

    def describe(self) -> str:
        if not self.distributed:
            return "1 process"
        return (
            f"{self.world_size} processes ({self.backend}, {self.nodes} node(s) x "
            f"{self.local_world_size})"
        )

    def describe_share(self, config: TrainConfig, lr: float) -> str:
        """Where the run trains and how its batch is shared, for its first line."""
        return (
            f"on {self.describe()}, {describe_device(self.device)}; batch {config.batch_size} = "
            f"{self.world_size} x {self.local_batch(config.batch_size)}, lr {lr:g} (scaling "
            f"{config.lr_scaling})"
        )

    def local_batch(self, batch_size: int) -> int:
        """This process's share of an effective batch of ``batch_size``."""
        if batch_size < 1:
            raise TrainingError(f"--batch-size {batch_size}: at least 1")
        if batch_size < self.world_size or batch_size % self.world_size:
            raise TrainingError(
                f"--batch-size {batch_size} is the effective batch over all processes: make it "
                f"a multiple of the {self.world_size} processes"
            )
        return batch_size // self.world_size

    def shard(self, count: int, seed: int, epoch: int) -> list[int]:
        """This process's indices of an epoch over ``count`` examples: one permutation seeded
        by (seed, epoch), dealt out rank by rank (padded, when ``count`` is not a multiple of
        the world size, by repeating its first indices)."""
        sampler = DistributedSampler(
            range(count), num_replicas=self.world_size, rank=self.rank, shuffle=True, seed=seed
        )
        sampler.set_epoch(epoch)
        return list(sampler)

    def wrap(self, model: nn.Module) -> nn.Module:
        """The model under DistributedDataParallel (itself in a world of one)."""
        if not self.distributed:
            return model
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    def sum(self, values: Sequence[float]) -> list[float]:
        """``values`` summed over all processes (float64, exact for counts)."""
        if not self.distributed:
            return list(values)
        totals = torch.tensor(values, dtype=torch.float64, device=self._collective_device)
        dist.all_reduce(totals)
        return totals.tolist()

    def share(self, value: Any) -> Any:
        """Rank 0's ``value`` on every process (a picklable object)."""
        if not self.distributed:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0, device=self._collective_device)
        return box[0]

    def close(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()

    def record(self, config: TrainConfig, lr: float) -> dict[str, Any]:
        """How the run was shared, for the card, the manifest and the log."""
        return {
            "world_size": self.world_size,
            "backend": self.backend or "none",
            "nodes": self.nodes,
            "effective_batch": config.batch_size,
            "batch_per_process": config.batch_size // self.world_size,
            "lr_scaling": config.lr_scaling,
            "lr_base_batch": base_batch(config),
            "lr": lr,
            "sync_bn": bool(getattr(config, "sync_bn", False)),
        }

    def launcher(self) -> list[str]:
        """The words that start this run's command: ``python`` or torchrun with its shape."""
        if not self.distributed:
            return ["python"]
        shape = [f"--nnodes={self.nodes}"] if self.nodes > 1 else ["--standalone"]
        return ["torchrun", *shape, f"--nproc_per_node={self.local_world_size}"]

    @property
    def _collective_device(self) -> torch.device:
        # NCCL moves only CUDA tensors; Gloo only CPU ones.
        return self.device if self.backend == "nccl" else torch.device("cpu")


def start(device_spec: str) -> Runtime:
    """Join torchrun's process group when launched by it (else a world of one), on the device
    ``device_spec`` names: under torchrun each process takes the GPU of its LOCAL_RANK."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_spec)
    if world_size == 1:
        return Runtime(0, 1, 0, 1, device, None)
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", str(world_size)))
    if device.type == "cuda":
        if device.index is not None:
            raise TrainingError(
                f"--device {device_spec}: under torchrun each process takes the GPU of its "
                "LOCAL_RANK; pass --device auto or cuda (CUDA_VISIBLE_DEVICES picks the GPUs)"
            )
        if local_rank >= torch.cuda.device_count():
            raise TrainingError(
                f"process {local_rank} of this node has no GPU: {torch.cuda.device_count()} "
                "visible; start at most that many per node (--nproc_per_node)"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        dist.init_process_group("gloo")
    _print_on_main_only(rank == 0)
    return Runtime(rank, world_size, local_rank, local_world_size, device, dist.get_backend())


def prepare(model: nn.Module, runtime: Runtime, sync_bn: bool) -> nn.Module:
    """With ``sync_bn`` under torchrun, BatchNorm layers that share their statistics across
    processes: torch's SyncBatchNorm on GPUs, an all-reduce of the sums on CPUs (where torch's
    has no kernels). Parameters stay the same objects and the state dict the same keys."""
    if not (sync_bn and runtime.distributed):
        return model
    if runtime.device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return convert_to_all_reduce_batchnorm(model)


@contextlib.contextmanager
def example_rng(seed: int, epoch: int, index: int) -> Iterator[None]:
    """Torch's global CPU generator seeded by (seed, epoch, index) inside the block, restored
    after it: an example's augmentation is the same whichever process draws it."""
    with torch.random.fork_rng(devices=[]):
        # SeedSequence mixes the three into a well-spread seed, the same on every platform.
        (state,) = np.random.SeedSequence([seed, epoch, index]).generate_state(1, np.uint64)
        torch.manual_seed(int(state) & 0x7FFF_FFFF_FFFF_FFFF)
        yield


def _print_on_main_only(is_main: bool) -> None:
    """Only rank 0 prints (``print(..., force=True)`` from any rank), as torchvision's
    references do: N copies of every line help no one."""
    original = builtins.print

    def print_(*values: Any, force: bool = False, **options: Any) -> None:
        if is_main or force:
            original(*values, **options)

    builtins.print = print_
