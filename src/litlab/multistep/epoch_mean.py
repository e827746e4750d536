"""A per-epoch mean that costs two in-place adds per step."""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics import MeanMetric


class EpochMean(nn.Module):
    """Sample-weighted mean of per-batch values over an epoch, kept on the batch's device.

    ``self.log(..., on_epoch=True)`` every step costs more than a small model's whole step
    (it moves and updates Lightning's result objects each time); here a step adds into two
    numbers on the device, with no host sync, and ``compute()`` hands the epoch's mean to
    torchmetrics once, which averages it across DDP ranks.

    The running sums are a plain attribute, not a buffer: buffers are model state, which DDP
    broadcasts from rank 0 before each forward and weight averaging (EMA) swaps with its copy;
    either would overwrite this rank's sums.
    """

    def __init__(self) -> None:
        super().__init__()
        self.sums = torch.zeros(2)  # value x n, n
        self.mean = MeanMetric()

    def update(self, value: torch.Tensor, count: int) -> None:
        if self.sums.device != value.device:  # first step on a new device
            self.sums = self.sums.to(value.device)
        total, seen = self.sums  # views
        total.add_(value.detach(), alpha=count)
        seen.add_(count)

    def compute(self) -> torch.Tensor:
        """The mean since the last call, over all ranks; starts the next epoch from zero."""
        total, seen = self.sums
        self.mean.update(total / seen, weight=seen)
        value = self.mean.compute()
        self.mean.reset()
        self.sums.zero_()
        return value
