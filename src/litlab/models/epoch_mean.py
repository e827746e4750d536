"""A per-epoch mean that costs two in-place adds per step."""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics import MeanMetric


class EpochMean(nn.Module):
    """Sample-weighted mean of per-batch values over an epoch, kept on the batch's device.

    ``self.log(..., on_epoch=True)`` every step costs more than a small model's whole step
    (it moves and updates Lightning's result objects each time); here a step adds into a buffer,
    with no host sync, and ``compute()`` hands the epoch's mean to torchmetrics once, which
    averages it across DDP ranks.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("sums", torch.zeros(2), persistent=False)  # value x n, n
        self.mean = MeanMetric()

    def update(self, value: torch.Tensor, count: int) -> None:
        total, seen = self.sums  # views of the buffer
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
