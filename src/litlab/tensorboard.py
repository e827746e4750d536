"""What a run puts in TensorBoard besides its scalars: hparams with final metrics, text, lr."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch import callbacks
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

from litlab.results import to_floats

# The run record (issue "reproducibility") under the names it may have; the first found is shown.
RUN_RECORD_NAMES = ("run_record.json", "run_record.yaml", "run_record.txt", "environment.json")


def tensorboard_logger(trainer: L.Trainer) -> TensorBoardLogger | None:
    """The run's TensorBoard logger; None with logger=csv or logger=none (callbacks then skip)."""
    return next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)


def config_dict(cfg: DictConfig) -> dict[str, Any]:
    """The composed config as plain values, without Hydra's own node."""
    return {
        key: OmegaConf.to_container(cfg[key], resolve=True)
        if OmegaConf.is_config(cfg[key])
        else cfg[key]
        for key in cfg
        if key != "hydra"
    }


def read_run_record(run_dir: str | Path) -> str | None:
    """The run record's text, or None while no run record is written."""
    for name in RUN_RECORD_NAMES:
        path = Path(run_dir) / name
        if path.is_file():
            return path.read_text()
    return None


def as_code(text: str) -> str:
    """Markdown code block: TensorBoard's text tab renders markdown, and would reflow YAML."""
    return "\n".join("    " + line for line in text.splitlines())


def log_run_summary(
    trainer: L.Trainer, cfg: DictConfig, metrics: Mapping[str, object], run_dir: str | Path
) -> None:
    """Hparams tab: the flattened config with the run's final metrics (as ``final/<name>``, so
    the scalar series keep one point per step); text tab: the config and the run record."""
    logger = tensorboard_logger(trainer)
    if logger is None:
        return
    final = {f"final/{name}": value for name, value in to_floats(metrics).items()}
    logger.log_hyperparams(config_dict(cfg), final or None, step=trainer.global_step)
    logger.experiment.add_text("run/config", as_code(OmegaConf.to_yaml(config_dict(cfg))))
    record = read_run_record(run_dir)
    if record is not None:
        logger.experiment.add_text("run/record", as_code(record))
    logger.experiment.flush()


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
