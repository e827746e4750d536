"""Callbacks that end training safely: on a non-finite loss, and on Ctrl-C or SIGTERM."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.utilities.exceptions import SIGTERMException

from litlab.errors import TrainingDiverged
from litlab.sweep_job import is_multirun

INTERRUPTIONS = (KeyboardInterrupt, SIGTERMException)


def checkpoint_dir(trainer: L.Trainer) -> Path:
    """Where ModelCheckpoint writes, or ``<default_root_dir>/checkpoints`` without one."""
    dirpath = getattr(trainer.checkpoint_callback, "dirpath", None)
    return Path(dirpath or Path(trainer.default_root_dir) / "checkpoints")


def learning_rate_hint(trainer: L.Trainer, pl_module: L.LightningModule) -> str:
    if not trainer.optimizers:
        return "Try a lower learning rate"
    key, lr = "model.optimizer.lr", trainer.optimizers[0].param_groups[0]["lr"]
    return f"Try a lower learning rate: it is {lr:g}, e.g. {key}={lr / 10:g}"


class StopOnNonFiniteLoss(L.Callback):
    """Stops at the first training_step call whose loss is nan or inf, before it is checkpointed.

    ``training_step`` returns the loss of each of the call's optimizer steps; one check covers
    them all, so a GPU run waits for the device once per call rather than once per step.
    Raises ``TrainingDiverged``: ``train.py`` prints its message and exits 2.
    """

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        losses = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if not isinstance(losses, torch.Tensor) or torch.isfinite(losses).all():
            return
        losses = losses.reshape(-1)
        first = int((~torch.isfinite(losses)).nonzero()[0])
        step = trainer.global_step - len(losses) + first + 1  # counted from 1 here
        raise TrainingDiverged(
            f"training diverged: the loss is {losses[first].item()} at optimizer step {step} "
            f"(epoch {trainer.current_epoch}). "
            f"{learning_rate_hint(trainer, pl_module)}, or clip gradients "
            f"(trainer.gradient_clip_val=1.0). Checkpoints saved before it are kept in "
            f"{checkpoint_dir(trainer)}."
        )


def resume_hint(trainer: L.Trainer, path: Path) -> str:
    if is_multirun():
        return f"finish the sweep with: litlab resume {HydraConfig.get().sweep.dir}"
    return (
        f"resume with: litlab resume {trainer.default_root_dir} "
        f"(or: python train.py <the same overrides> ckpt_path={path})"
    )


class CheckpointOnInterrupt(L.Callback):
    """On Ctrl-C or SIGTERM during fit, saves a checkpoint that ``ckpt_path=`` resumes from.

    Lightning turns SIGTERM into ``SIGTERMException`` at the next batch boundary and calls
    ``on_exception`` on every callback, for Ctrl-C too; this is that hook.
    """

    def __init__(self, filename: str = "interrupted.ckpt") -> None:
        self.filename = filename

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        if not isinstance(exception, INTERRUPTIONS) or trainer.state.fn != "fit":
            return
        path = checkpoint_dir(trainer) / self.filename
        trainer.save_checkpoint(path)
        if trainer.is_global_zero:
            name = "SIGTERM" if isinstance(exception, SIGTERMException) else "Ctrl-C"
            print(
                f"\n{name} at step {trainer.global_step} (epoch {trainer.current_epoch}): "
                f"saved {path}\n{resume_hint(trainer, path)}",
                file=sys.stderr,
            )
