"""The classifier's test results as pictures in TensorBoard's images tab.

Drawn only when the run logs to TensorBoard (logger=tensorboard), skipped otherwise. (The
polynomial's picture is drawn by its reference, ``litlab.callbacks.polynomial``.)
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from matplotlib.figure import Figure
from torchmetrics.classification import MulticlassConfusionMatrix

from litlab.tensorboard import tensorboard_logger


class TestPredictionFigures(L.Callback):
    """After testing: the confusion matrix (``test/confusion_matrix``) and a grid of
    misclassified test images titled with true and predicted class (``test/misclassified``).

    Uses the classes the module's ``test_step`` predicted (no second pass over the test set),
    and the class names the data module gives (``datamodule.classes``).
    """

    def __init__(self, max_images: int = 32) -> None:
        self.max_images = max_images
        self.class_names: list[str] = []
        self.confusion: MulticlassConfusionMatrix | None = None
        self.wrong: list[tuple[torch.Tensor, int, int]] = []

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.confusion = None
        if tensorboard_logger(trainer) is not None:
            self.class_names = list(trainer.datamodule.classes)
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
        predicted = outputs  # the classes test_step predicted
        self.confusion.update(predicted, y)
        for i in (predicted != y).nonzero().flatten().tolist():
            if len(self.wrong) >= self.max_images:
                break
            image = x[i].detach().cpu().float()  # numpy has no bfloat16 (precision=bf16-true)
            self.wrong.append((image, int(y[i]), int(predicted[i])))

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
