"""What a run reports as it goes: the progress bar, the learning rate, the training time."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch import callbacks


class ProgressBar(callbacks.TQDMProgressBar):
    """Lightning's progress bar, closed when training or testing stops on an error, so that the
    error is printed on a line of its own (and the bar is not drawn again after it at exit)."""

    def on_exception(self, trainer: L.Trainer, module: L.LightningModule, error: Any) -> None:
        bars = (self._train_progress_bar, self._val_progress_bar, self._test_progress_bar,
                self._predict_progress_bar)  # fmt: skip
        for bar in bars:
            if bar is not None:
                bar.close()  # ends the bar's line; closing a closed bar does nothing


class LearningRateMonitor(callbacks.LearningRateMonitor):
    """Lightning's ``lr-<Optimizer>`` scalars; does nothing with logger=none, where Lightning's
    own would stop the run."""

    def on_train_start(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        self.active = bool(trainer.loggers)
        if self.active:
            super().on_train_start(trainer, *args, **kwargs)

    def on_train_batch_start(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        if self.active:
            super().on_train_batch_start(trainer, *args, **kwargs)

    def on_train_epoch_start(self, trainer: L.Trainer, *args: Any, **kwargs: Any) -> None:
        if self.active:
            super().on_train_epoch_start(trainer, *args, **kwargs)


class TrainingTime(callbacks.Timer):
    """Lightning's ``Timer`` that also logs ``time/train_s`` at every training epoch's end.

    Seconds since training started: validation inside fit counts; process start-up, data
    loading and testing do not. With ``test/acc`` it answers "how long to reach X %".
    """

    def __init__(self) -> None:
        super().__init__(duration=None, verbose=False)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        pl_module.log("time/train_s", self.time_elapsed("train"))
