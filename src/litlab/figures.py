"""Pictures of a run in TensorBoard's images tab, as callbacks each experiment configures.

They draw only when the run logs to TensorBoard (logger=tensorboard) and skip otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from matplotlib.figure import Figure
from torchmetrics.classification import MulticlassConfusionMatrix

from litlab.callbacks import least_squares_cubic
from litlab.tensorboard import tensorboard_logger


def cubic(coefficients: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return sum(c * x**power for power, c in enumerate(coefficients))


class PolynomialFitFigure(L.Callback):
    """sin(x), the learned cubic and the least-squares cubic on one plot, every
    ``every_n_epochs`` epochs and at the end of training (tag ``fit/polynomial``)."""

    def __init__(self, every_n_epochs: int = 1) -> None:
        self.every_n_epochs = every_n_epochs

    def figure(self, trainer: L.Trainer, pl_module: L.LightningModule) -> Figure:
        dataset = trainer.datamodule.dataset
        x, y = dataset.x.cpu(), dataset.y.cpu()
        best, _ = least_squares_cubic(x, y)
        with torch.no_grad():
            learned = pl_module(x.to(pl_module.device)).cpu().numpy()
        reference = cubic(best, x).numpy()
        x, y = x.numpy(), y.numpy()
        fig = Figure(figsize=(6, 4))
        ax = fig.subplots()
        ax.plot(x, y, label="sin(x)", color="black", linewidth=3, alpha=0.3)
        ax.plot(x, learned, label="learned cubic")
        ax.plot(x, reference, "--", label="least-squares cubic")
        ax.set(xlabel="x", ylabel="y", title=f"after {trainer.global_step} steps")
        ax.legend()
        return fig

    def draw(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        logger = tensorboard_logger(trainer)
        if logger is not None and trainer.is_global_zero:
            fig = self.figure(trainer, pl_module)
            logger.experiment.add_figure("fit/polynomial", fig, trainer.global_step)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch % self.every_n_epochs == 0:
            self.draw(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.draw(trainer, pl_module)


class TestPredictionFigures(L.Callback):
    """After testing: the confusion matrix (``test/confusion_matrix``) and a grid of
    misclassified test images titled with true and predicted class (``test/misclassified``)."""

    def __init__(self, class_names: Sequence[str], max_images: int = 32) -> None:
        self.class_names = list(class_names)
        self.max_images = max_images
        self.confusion: MulticlassConfusionMatrix | None = None
        self.wrong: list[tuple[torch.Tensor, int, int]] = []

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.confusion = None
        if tensorboard_logger(trainer) is not None:
            num_classes = len(self.class_names)
            self.confusion = MulticlassConfusionMatrix(num_classes).to(pl_module.device)
        self.wrong = []

    def on_test_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: tuple[torch.Tensor, torch.Tensor],
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self.confusion is None:
            return
        x, y = batch
        with torch.no_grad():
            predicted = pl_module(x).argmax(dim=-1)
        self.confusion.update(predicted, y)
        for i in (predicted != y).nonzero().flatten().tolist():
            if len(self.wrong) >= self.max_images:
                break
            self.wrong.append((x[i].detach().cpu(), int(y[i]), int(predicted[i])))

    def misclassified_figure(self) -> Figure:
        columns = 8
        rows = max(1, math.ceil(len(self.wrong) / columns))
        fig = Figure(figsize=(columns * 1.4, rows * 1.7))
        axes = fig.subplots(rows, columns, squeeze=False).flatten()
        for ax in axes:
            ax.axis("off")
        for ax, (image, true, predicted) in zip(axes, self.wrong, strict=False):
            ax.imshow(image.squeeze(0).numpy(), cmap="gray")
            names = self.class_names
            ax.set_title(f"true: {names[true]}\npred: {names[predicted]}", fontsize=7)
        fig.tight_layout()
        return fig

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        logger = tensorboard_logger(trainer)
        if self.confusion is None or logger is None or not trainer.is_global_zero:
            return
        fig, _ = self.confusion.plot(labels=self.class_names)
        fig.set_size_inches(8, 8)
        logger.experiment.add_figure("test/confusion_matrix", fig, trainer.global_step)
        logger.experiment.add_figure(
            "test/misclassified", self.misclassified_figure(), trainer.global_step
        )
