"""Ending training safely: at a non-finite loss, and on Ctrl-C or SIGTERM."""

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
from litlab.runs.sweep_job import is_multirun

INTERRUPTIONS = (KeyboardInterrupt, SIGTERMException)


def checkpoint_dir(trainer: L.Trainer) -> Path:
    """Where ModelCheckpoint writes, or ``<default_root_dir>/checkpoints`` without one."""
    dirpath = getattr(trainer.checkpoint_callback, "dirpath", None)
    return Path(dirpath or Path(trainer.default_root_dir) / "checkpoints")


def learning_rate_hint(trainer: L.Trainer) -> str:
    if not trainer.optimizers:
        return "Try a lower learning rate"
    key, lr = "model.optimizer.lr", trainer.optimizers[0].param_groups[0]["lr"]
    return f"Try a lower learning rate: it is {lr:g}, e.g. {key}={lr / 10:g}"


def resume_hint(trainer: L.Trainer, path: Path) -> str:
    if is_multirun():
        return f"finish the sweep with: litlab resume {HydraConfig.get().sweep.dir}"
    return (
        f"resume with: litlab resume {trainer.default_root_dir} "
        f"(or: python train.py <the same overrides> ckpt_path={path})"
    )


class TrainingGuard(L.Callback):
    """Stops training safely in two cases, keeping what it can:

    - at the first ``training_step`` call whose loss is nan or inf, before that state is
      checkpointed (``stop_on_nonfinite_loss``). ``training_step`` returns the loss of each of
      the call's optimizer steps, and one check covers them all: a GPU run waits for the device
      once per call, not once per step. Raises ``TrainingDiverged``, which ``train.py`` prints
      (with what to try) before exiting 2.
    - on Ctrl-C or SIGTERM during fit: saves ``checkpoints/<interrupt_checkpoint>``, which
      ``litlab resume`` or ``ckpt_path=`` continues from, exactly (None: no checkpoint).
      Lightning turns SIGTERM into ``SIGTERMException`` once the call in progress ends and
      calls ``on_exception`` on every callback, for Ctrl-C too; that is the hook used here.

    One callback for both: Lightning calls every callback at every ``training_step`` call, so
    each one costs time per call (README "The training loop").
    """

    def __init__(
        self,
        stop_on_nonfinite_loss: bool = True,
        interrupt_checkpoint: str | None = "interrupted.ckpt",
    ) -> None:
        self.stop_on_nonfinite_loss = stop_on_nonfinite_loss
        self.interrupt_checkpoint = interrupt_checkpoint

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        losses = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if not self.stop_on_nonfinite_loss or not isinstance(losses, torch.Tensor):
            return
        if torch.isfinite(losses).all():  # the one host sync per call
            return
        losses = losses.reshape(-1)
        first = int((~torch.isfinite(losses)).nonzero()[0])
        step = trainer.global_step - len(losses) + first + 1  # counted from 1 here
        raise TrainingDiverged(
            f"training diverged: the loss is {losses[first].item()} at optimizer step {step} "
            f"(epoch {trainer.current_epoch}). "
            f"{learning_rate_hint(trainer)}, or clip gradients "
            f"(trainer.gradient_clip_val=1.0). Checkpoints saved before it are kept in "
            f"{checkpoint_dir(trainer)}."
        )

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        if self.interrupt_checkpoint is None or trainer.state.fn != "fit":
            return
        if not isinstance(exception, INTERRUPTIONS):
            return
        path = checkpoint_dir(trainer) / self.interrupt_checkpoint
        trainer.save_checkpoint(path)
        if trainer.is_global_zero:
            name = "SIGTERM" if isinstance(exception, SIGTERMException) else "Ctrl-C"
            print(
                f"\n{name} at step {trainer.global_step} (epoch {trainer.current_epoch}): "
                f"saved {path}\n{resume_hint(trainer, path)}",
                file=sys.stderr,
            )
