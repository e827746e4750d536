"""Gradient accumulation whose every optimizer step is the mean over the samples it saw.

With ``accumulate_grad_batches=k`` Lightning divides each batch's (mean) loss by k and steps
every k batches -- and also at the end of the epoch, after a last window of m < k batches that it
still divides by k (Lightning issue 19987): that step is m/k of the size it should be. And where
the epoch's last batch is shorter, a mean of batch means over-weights its samples. Either way
``batch_size=b, k`` would not train like ``batch_size=b*k, k=1``.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities.data import extract_batch_size


def scale_gradients(module: torch.nn.Module, factor: float) -> None:
    with torch.no_grad():
        for parameter in module.parameters():
            if parameter.grad is not None:
                parameter.grad.mul_(factor)


class SampleMeanAccumulation(L.Callback):
    """Reweights the accumulated gradient so that each step uses sum(per-sample grads) / samples.

    Lightning's gradient after batches 1..j of a window is sum_i g_i / k (g_i: batch i's mean
    gradient, n_i its size). Keeping it at sum_i (n_i / n_j) g_i / k -- rescaling by
    n_{j-1} / n_j before batch j's backward, which is a no-op while the sizes are equal -- and
    multiplying by k n_last / (samples in the window) before the step gives exactly
    sum_i n_i g_i / samples. Whole windows of equal batches are left untouched, bit for bit.
    Does nothing for k = 1 or manual optimization.
    """

    def __init__(self) -> None:
        self._batch_size = 0  # of the batch now in training_step
        self._last_size = 0  # of the last batch that went through backward in this window
        self._window_samples = 0

    @staticmethod
    def _active(trainer: L.Trainer, pl_module: L.LightningModule) -> bool:
        return trainer.accumulate_grad_batches > 1 and pl_module.automatic_optimization

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._active(trainer, pl_module):
            self._batch_size = extract_batch_size(batch)

    def on_before_backward(
        self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor
    ) -> None:
        if not self._active(trainer, pl_module):
            return
        if self._last_size and self._last_size != self._batch_size:
            scale_gradients(pl_module, self._last_size / self._batch_size)
        self._last_size = self._batch_size
        self._window_samples += self._batch_size

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        if not self._active(trainer, pl_module) or not self._window_samples:
            return
        factor = trainer.accumulate_grad_batches * self._last_size / self._window_samples
        if factor != 1:
            scale_gradients(pl_module, factor)
        self._last_size = self._window_samples = 0
