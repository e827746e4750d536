"""The LightningModule that fits a network to (x, y) pairs by mean squared error."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from litlab.models.functional import example_input
from litlab.multistep import EpochMean, MultiStepModule, refuse_module_clipping

OptimizerFactory = Callable[..., torch.optim.Optimizer]


class RegressionModule(MultiStepModule):
    """Minimises ``MSELoss(reduction="mean")``; the optimizer comes from the config as a partial.
    ``training_step`` runs several optimizer steps per call (``MultiStepModule``)."""

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory,
        example_input_shape: Sequence[int] | None = None,
        gradient_clip_val: None = None,  # trainer.gradient_clip_val now; None: old checkpoints
        gradient_clip_algorithm: None = None,
        compile: bool = False,
    ) -> None:
        refuse_module_clipping(gradient_clip_val, gradient_clip_algorithm)
        super().__init__()
        # Lightning traces it for TensorBoard's graph and the model summary's in/out sizes.
        self.example_input_array = example_input(example_input_shape)
        self.net = net
        if compile:
            # torch.compile of the network alone, not the step (self.log would break its graph),
            # and in place (nn.Module.compile): the parameters keep their names, so checkpoints
            # load into an eager network, without torch.compile's "_orig_mod." prefix.
            self.net.compile()
        self.optimizer_factory = optimizer
        self.loss_fn = nn.MSELoss(reduction="mean")
        # train/loss, logged once per epoch: a per-step self.log would cost more than the step
        self.train_loss = EpochMean()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def batch_loss(self, batch: tuple[torch.Tensor, ...], stage: str) -> torch.Tensor:
        x, y = batch
        loss = self.loss_fn(self.net(x), y)  # the network itself: one module call less a step
        self.train_loss.update(loss, len(x))
        return loss

    def on_train_epoch_end(self) -> None:
        self.log("train/loss", self.train_loss.compute())
        super().on_train_epoch_end()  # epoch-interval learning-rate schedulers

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        self.log("test/loss", self.loss_fn(self(x), y), batch_size=len(x))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return self.optimizer_factory(params=self.parameters())
