"""Let Optuna's pruner stop a hopeless trial: each epoch's monitored metric is reported to the
trial, and ``optuna.TrialPruned`` ends the job when the pruner says so. The job's status.json
then says ``pruned`` (``litlab.run_folder.status``) and the sweeper tells the study PRUNED."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.callbacks import Callback

from litlab.run_folder.sweep_job import is_multirun

SWEEPERS = ("hydra_plugins.litlab_optuna.OptunaSweeper",
            "hydra_plugins.litlab_optuna.ResumeOptunaSweeper")  # fmt: skip


def current_trial() -> Any:
    """The Optuna trial this job runs, or None outside an Optuna search that keeps its study
    in a storage other processes can open."""
    from litlab.sweeps.search.storage import trial_in_job  # optuna: only in a search

    if not is_multirun():
        return None
    hydra = HydraConfig.get()
    if hydra.sweeper.get("_target_") not in SWEEPERS or hydra.sweeper.get("storage") is None:
        return None
    return trial_in_job(hydra.sweeper, int(hydra.job.num))


class OptunaPruning(Callback):
    """Reports ``monitor`` after each validation to the job's trial; raises TrialPruned when the
    study's pruner (``hydra.sweeper.pruner``) decides the trial is hopeless. Does nothing
    outside an Optuna search (a single run, a grid sweep)."""

    def __init__(self, monitor: str) -> None:
        self.monitor = monitor
        self.trial: Any = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage == "fit" and trainer.is_global_zero:
            self.trial = current_trial()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if (
            self.trial is None
            or trainer.sanity_checking
            or self.monitor not in trainer.callback_metrics
        ):
            return
        import optuna

        value, epoch = float(trainer.callback_metrics[self.monitor]), trainer.current_epoch
        if not math.isfinite(value):
            return  # TrainingGuard stops the run, which then fails
        self.trial.report(value, step=epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch}: {self.monitor}={value:.4g}")
