"""A LightningModule that trains any logits-producing network as a multiclass classifier."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torchmetrics import MaxMetric

from litlab.models.functional import example_input, stable_softmax
from litlab.multistep import EpochMean, MultiStepModule, refuse_module_clipping

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]
STAGES = ("train", "val", "test")


class Classifier(MultiStepModule):
    """Cross-entropy on logits, accuracy, and a running best of ``val/acc``.

    Built for a cheap step: nothing is logged or synchronised per step (see ``batch_loss``),
    so the step costs what the network and the optimizer cost; ``training_step`` runs several
    optimizer steps per call (``MultiStepModule``).
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        label_smoothing: float = 0.0,
        example_input_shape: Sequence[int] | None = None,
        gradient_clip_val: None = None,  # trainer.gradient_clip_val now; None: old checkpoints
        gradient_clip_algorithm: None = None,
        compile: bool = False,
    ) -> None:
        refuse_module_clipping(gradient_clip_val, gradient_clip_algorithm)
        super().__init__()
        # Plain values only: checkpoints must load with torch.load(weights_only=True). The whole
        # Hydra config, optimizer included, is logged with every run anyway.
        self.save_hyperparameters(
            ignore=[
                "net",
                "optimizer",
                "scheduler",
                "example_input_shape",
                "gradient_clip_val",
                "gradient_clip_algorithm",
            ]
        )
        # Lightning traces it for TensorBoard's graph and the model summary's in/out sizes.
        self.example_input_array = example_input(example_input_shape)
        self.net = net
        if compile:
            # torch.compile of the network alone, not the step (self.log would break its graph),
            # and in place (nn.Module.compile): the parameters keep their names, so checkpoints
            # load into an eager network, without torch.compile's "_orig_mod." prefix.
            self.net.compile()
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        # cross_entropy = log_softmax + nll_loss, computed stably from the logits. Label smoothing
        # (e.g. 0.1) trains against 0.9/0.01 targets instead of 1/0: a mild regulariser.
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        # "train/loss", "val/acc", ...: per step two in-place adds each on the device (no sync, no
        # self.log); once per epoch the mean goes to torchmetrics, which averages across DDP ranks.
        # Accuracy is micro: the mean of "prediction == label" over the epoch's samples.
        self.metrics = nn.ModuleDict(
            {f"{stage}/{name}": EpochMean() for stage in STAGES for name in ("loss", "acc")}
        )
        # Persistent, so that a resumed run still knows the best epoch before it.
        self.val_acc_best = MaxMetric()
        self.val_acc_best.persistent(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def batch_loss(self, batch: tuple[torch.Tensor, ...], stage: str) -> torch.Tensor:
        return self._evaluate(batch, stage)[0]

    def _evaluate(
        self, batch: tuple[torch.Tensor, ...], stage: str
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's mean loss and predicted classes; the stage's epoch sums updated."""
        x, y = batch
        logits = self.net(x)  # the network itself: one module call less a step
        loss = self.loss_fn(logits, y)
        predicted = logits.argmax(-1)
        self.metrics[f"{stage}/loss"].update(loss, len(y))  # type: ignore[operator]  # a ModuleDict item is typed Module: torchmetrics' own method
        self.metrics[f"{stage}/acc"].update((predicted == y).float().mean(), len(y))  # type: ignore[operator]
        return loss, predicted

    def _log_epoch(self, stage: str) -> dict[str, torch.Tensor]:
        """Logs ``<stage>/loss`` and ``<stage>/acc`` for the epoch, and returns them."""
        values = {}
        for name in (f"{stage}/loss", f"{stage}/acc"):
            values[name] = self.metrics[name].compute()  # type: ignore[operator]  # a ModuleDict item is typed Module: torchmetrics' own method
            self.log(name, values[name])
        return values

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train")
        super().on_train_epoch_end()  # epoch-interval learning-rate schedulers

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self.batch_loss(batch, "val")

    def on_validation_epoch_end(self) -> None:
        acc = self._log_epoch("val")["val/acc"]
        if self.trainer.sanity_checking:  # a couple of batches, not an epoch: not a "best"
            return
        self.val_acc_best.update(acc)
        self.log("val/acc_best", self.val_acc_best.compute())

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """Returns the predicted classes (what TestPredictionFigures draws)."""
        return self._evaluate(batch, "test")[1]

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """Class probabilities (the training path never needs them: the loss takes logits)."""
        x = batch[0] if isinstance(batch, list | tuple) else batch
        return stable_softmax(self(x), dim=-1)

    def configure_optimizers(self) -> dict[str, Any]:  # type: ignore[override]  # Lightning's
        # return type lists the dict forms as OptimizerLRSchedulerConfig only, not dict[str, Any]
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return {"optimizer": optimizer}
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"},
        }
