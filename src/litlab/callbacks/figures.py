"""The classifier's test results as pictures in TensorBoard's images tab.

Drawn only when the run logs to TensorBoard (logger=tensorboard), skipped otherwise. Drawn as
pixels (``litlab.image_grids``: milliseconds, where matplotlib took ~3.8 s a run). (The
polynomial's picture is drawn by its reference, ``litlab.callbacks.polynomial``.)
"""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
from torchmetrics.classification import MulticlassConfusionMatrix

from litlab.image_grids import confusion_image, image_summary, labelled_grid
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
            self.class_names = list(trainer.datamodule.classes)  # type: ignore[attr-defined]  # set by Lightning's data connector, undeclared on Trainer
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

    def misclassified_image(self) -> np.ndarray:
        """The misclassified images, 8 a row, each titled with its true and predicted class."""
        names = self.class_names
        captions = [f"true: {names[true]}\npred: {names[pred]}" for _, true, pred in self.wrong]
        return labelled_grid([image for image, _, _ in self.wrong], captions)

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        logger = tensorboard_logger(trainer)
        if self.confusion is None or logger is None or not trainer.is_global_zero:
            return
        matrix = confusion_image(self.confusion.compute(), self.class_names)
        writer = logger.experiment._get_file_writer()  # what add_image writes with
        for tag, pixels in (("test/confusion_matrix", matrix),
                            ("test/misclassified", self.misclassified_image())):  # fmt: skip
            writer.add_summary(image_summary(tag, pixels), trainer.global_step)
