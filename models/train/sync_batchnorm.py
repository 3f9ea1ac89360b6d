"""BatchNorm whose training statistics cover the whole batch over all processes, on CPUs too.

torch's :class:`~torch.nn.SyncBatchNorm` runs on GPUs only; training under torchrun with Gloo
on CPUs needs the same arithmetic to match a single process. One all-reduce per layer carries
each channel's sum, sum of squares and count; its backward all-reduces the gradients, so the
gradient is that of the whole batch.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn


class _SumOverProcesses(torch.autograd.Function):
    """All-reduce (sum) with a gradient: d(sum)/d(own part) passes every process's upstream
    gradient, summed (torch.distributed.nn.functional.all_reduce, which is deprecated)."""

    @staticmethod
    def forward(ctx: Any, tensor: Tensor) -> Tensor:
        total = tensor.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        total = grad.clone()
        dist.all_reduce(total)
        return total


class AllReduceBatchNorm2d(nn.BatchNorm2d):
    """:class:`~torch.nn.BatchNorm2d` with statistics summed over the process group in
    training (plain BatchNorm in evaluation). Inputs [N, C, H, W]."""

    def forward(self, input: Tensor) -> Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(input)
        channels = input.shape[1]
        values = input.float()
        # Shifting by the running mean (the same on every process) keeps sum-of-squares
        # arithmetic from cancelling when the mean is large against the spread.
        shift = self.running_mean.detach().view(1, -1, 1, 1) if self.running_mean is not None else 0
        centred = values - shift
        count = torch.full(
            (1,), values.numel() / channels, dtype=values.dtype, device=values.device
        )
        local = torch.cat(
            (centred.sum(dim=(0, 2, 3)), (centred * centred).sum(dim=(0, 2, 3)), count)
        )
        total = _SumOverProcesses.apply(local)
        n = total[-1]
        centred_mean = total[:channels] / n
        variance = (total[channels : 2 * channels] / n - centred_mean.square()).clamp_min(0)
        mean = centred_mean + (shift.view(-1) if isinstance(shift, Tensor) else 0)
        if self.track_running_stats and self.running_mean is not None:
            self._update_running_stats(mean.detach(), variance.detach(), n.detach())
        scale = torch.rsqrt(variance + self.eps)
        output = (values - mean.view(1, -1, 1, 1)) * scale.view(1, -1, 1, 1)
        if self.affine:
            output = output * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        return output.to(input.dtype)

    @torch.no_grad()
    def _update_running_stats(self, mean: Tensor, variance: Tensor, count: Tensor) -> None:
        self.num_batches_tracked.add_(1)
        momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        unbiased = variance * count / (count - 1).clamp_min(1)
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), momentum)
        self.running_var.lerp_(unbiased.to(self.running_var.dtype), momentum)


def convert_to_all_reduce_batchnorm(module: nn.Module) -> nn.Module:
    """Every :class:`~torch.nn.BatchNorm2d` under ``module`` (and ``module`` itself) replaced
    by an :class:`AllReduceBatchNorm2d` holding the same parameter and buffer objects."""
    if type(module) is nn.BatchNorm2d:
        converted = AllReduceBatchNorm2d(
            module.num_features, module.eps, module.momentum, module.affine,
            module.track_running_stats,
        )  # fmt: skip
        if module.affine:
            converted.weight, converted.bias = module.weight, module.bias
        converted.running_mean = module.running_mean
        converted.running_var = module.running_var
        converted.num_batches_tracked = module.num_batches_tracked
        converted.train(module.training)
        return converted
    for name, child in module.named_children():
        module.add_module(name, convert_to_all_reduce_batchnorm(child))
    return module
