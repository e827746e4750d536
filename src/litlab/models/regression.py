"""LightningModules that fit a network to (x, y) pairs by mean squared error."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import lightning as L
import torch
from torch import nn

from litlab.models.epoch_mean import EpochMean
from litlab.models.functional import example_input

OptimizerFactory = Callable[..., torch.optim.Optimizer]


class RegressionModule(L.LightningModule):
    """Minimises ``MSELoss(reduction="mean")``; the optimizer comes from the config as a partial."""

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory | None,
        example_input_shape: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        # Lightning traces it for TensorBoard's graph and the model summary's in/out sizes.
        self.example_input_array = example_input(example_input_shape)
        self.net = net
        self.optimizer_factory = optimizer
        self.loss_fn = nn.MSELoss(reduction="mean")
        # train/loss, logged once per epoch: a per-step self.log would cost more than the step
        self.train_loss = EpochMean()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        x, y = batch
        loss = self.loss_fn(self(x), y)
        self.train_loss.update(loss, len(x))
        return loss

    def on_train_epoch_end(self) -> None:
        self.log("train/loss", self.train_loss.compute())

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.log("test/loss", self.loss_fn(self(x), y), batch_size=len(x))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory(params=self.parameters())


class ManualSGDRegression(RegressionModule):
    """The classic loop, written out with Lightning's manual optimization:
    ``loss.backward()``, then ``p -= lr * p.grad`` under ``no_grad``, then ``p.grad = None``.

    It takes ``lr`` rather than an optimizer: there is no optimizer object, which is the point.
    Limit it by ``trainer.max_epochs``: Lightning counts ``global_step`` in optimizer steps, so
    with no optimizer ``trainer.max_steps`` would never be reached.
    """

    def __init__(
        self, net: nn.Module, lr: float = 1e-3, example_input_shape: Sequence[int] | None = None
    ) -> None:
        super().__init__(net, optimizer=None, example_input_shape=example_input_shape)
        self.lr = lr
        self.save_hyperparameters("lr")
        self.automatic_optimization = False

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        x, y = batch
        loss = self.loss_fn(self(x), y)
        self.manual_backward(loss)
        with torch.no_grad():
            for p in self.parameters():
                p -= self.lr * p.grad
                p.grad = None
        self.train_loss.update(loss, len(x))
        return loss

    def configure_optimizers(self) -> None:
        return None
