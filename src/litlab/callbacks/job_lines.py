"""Parallel jobs on one terminal: each prints one line per epoch instead of a progress bar.

With ``hydra/launcher=joblib`` several jobs share the terminal, and their progress bars, each
redrawing its own line with carriage returns, overwrite one another. A job that runs beside
others (a multirun whose launcher has ``n_jobs`` other than 1) turns its bar off and prints
``[job 3] epoch 2/5  train/loss 0.4312  val/acc 0.8125`` after each epoch; everything else it
prints stays in its own ``train.log``."""

from __future__ import annotations

from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig

from litlab.callbacks.reporting import ProgressBar
from litlab.run_folder.sweep_job import is_multirun

SHOWN = ("train/loss", "val/loss", "val/acc")  # the metrics on a job's line, when logged


def parallel_job() -> int | None:
    """This job's number if it runs beside other jobs of its multirun, else None."""
    if not is_multirun():
        return None
    hydra = HydraConfig.get()
    return int(hydra.job.num) if hydra.launcher.get("n_jobs", 1) != 1 else None


def epoch_line(job: int, trainer: L.Trainer) -> str:
    metrics = trainer.callback_metrics
    values = "  ".join(f"{name} {float(metrics[name]):.4f}" for name in SHOWN if name in metrics)
    return f"[job {job}] epoch {trainer.current_epoch + 1}/{trainer.max_epochs}  {values}".rstrip()


class JobProgressBar(ProgressBar):
    """litlab's progress bar for a run alone on its terminal; one line per epoch for a job that
    runs in parallel with others."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.job: int | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        self.job = parallel_job()
        if self.job is not None:
            self.disable()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self.job is not None and trainer.is_global_zero:
            print(epoch_line(self.job, trainer), flush=True)  # one write: lines do not mix
