"""MLflow and Weights & Biases beside TensorBoard: Lightning's loggers, given what litlab gives
TensorBoard's HPARAMS tab -- the run's readable parameters (``litlab.hparams``, no ``_target_``
columns), its final metrics (``final/<name>``) and its record (``run_record.json``) -- and
pointed back at the run folder.

Lightning would log the module's constructor arguments as parameters (``log_hyperparams``);
these loggers take the run's parameters instead, by the names typed on the command line, when
the run starts (``log_run_params``), and the summary when it ends (``log_tracker_summary``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch import loggers
from omegaconf import DictConfig, OmegaConf

from litlab.hparams import run_hparams
from litlab.run_folder.record import RECORD_FILE
from litlab.run_folder.results import to_floats


class MLFlowLogger(loggers.MLFlowLogger):
    """Lightning's MLflow logger; its parameters are the run's (``log_run_params``)."""

    def log_hyperparams(self, params: Any) -> None:
        """Lightning's call with the module's arguments: the run's parameters stand instead."""


class WandbLogger(loggers.WandbLogger):
    """Lightning's W&B logger (offline by default: ``conf/logger/wandb.yaml``); its config is
    the run's parameters (``log_run_params``)."""

    def log_hyperparams(self, params: Any) -> None:
        """Lightning's call with the module's arguments: the run's parameters stand instead."""


def trackers(trainer: L.Trainer) -> list[MLFlowLogger | WandbLogger]:
    return [lg for lg in trainer.loggers if isinstance(lg, MLFlowLogger | WandbLogger)]


def run_name(run_dir: Path, cfg: DictConfig) -> str:
    """``<name>/<date>/<time>`` (or a sweep job's ``.../<job>``): the folder, as runs list it."""
    log_dir = Path(str(OmegaConf.select(cfg, "paths.log_dir", default="") or ""))
    try:
        return str(run_dir.resolve().relative_to(log_dir.resolve()))
    except ValueError:
        return run_dir.name


def log_run_params(trainer: L.Trainer, cfg: DictConfig, run_dir: str | Path) -> None:
    """At the run's start: its parameters, its name and its folder."""
    if not trainer.is_global_zero:
        return
    run_dir = Path(run_dir)
    params = run_hparams(cfg)
    folder = {"run_folder": str(run_dir.resolve())}
    for logger in trackers(trainer):
        if isinstance(logger, MLFlowLogger):
            client, run_id = logger.experiment, logger.run_id
            for key, value in params.items():
                client.log_param(run_id, key, value)
            client.set_tag(run_id, "mlflow.runName", run_name(run_dir, cfg))
            for key, value in folder.items():
                client.set_tag(run_id, key, value)
        else:
            run = logger.experiment
            run.config.update(params, allow_val_change=True)
            run.name = run_name(run_dir, cfg)
            run.summary.update(folder)


def log_tracker_summary(
    trainer: L.Trainer, metrics: Mapping[str, object], run_dir: str | Path
) -> None:
    """At the run's end: its final metrics and its record; a W&B run is finished here (a
    later run in the same process would otherwise log into it)."""
    final = {f"final/{name}": value for name, value in to_floats(metrics).items()}
    record = Path(run_dir) / RECORD_FILE
    for logger in trackers(trainer):
        if isinstance(logger, MLFlowLogger):
            client, run_id = logger.experiment, logger.run_id
            for name, value in final.items():
                client.log_metric(run_id, name, value, step=trainer.global_step)
            if record.is_file():
                client.log_artifact(run_id, str(record))
        else:
            run = logger.experiment
            run.summary.update(final)
            if record.is_file():
                run.save(str(record), base_path=str(record.parent), policy="now")
            run.finish()
