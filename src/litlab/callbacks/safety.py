"""Ending training safely: at a non-finite loss, and on Ctrl-C or SIGTERM; and what resuming
from a checkpoint means for the run's checkpoints."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.exceptions import SIGTERMException

from litlab.errors import TrainingDiverged
from litlab.run_folder.sources import config_dir_args, config_dirs_in_force
from litlab.run_folder.sweep_job import is_multirun

INTERRUPTIONS = (KeyboardInterrupt, SIGTERMException)


def checkpoint_dir(trainer: L.Trainer) -> Path:
    """Where ModelCheckpoint writes, or ``<default_root_dir>/checkpoints`` without one."""
    dirpath = getattr(trainer.checkpoint_callback, "dirpath", None)
    return Path(dirpath or Path(trainer.default_root_dir) / "checkpoints")


def kept_checkpoints(trainer: L.Trainer) -> str:
    """What a diverged run leaves to go back to: its checkpoints, if any were written yet
    (they are written at epoch ends), else the checkpoint it started from, if any."""
    folder = checkpoint_dir(trainer)
    if any(folder.glob("*.ckpt")):
        return f"Checkpoints saved before it are kept in {folder}."
    if trainer.ckpt_path:
        return f"No checkpoint was saved before it; the run started from {trainer.ckpt_path}."
    return "No checkpoint was saved before it (they are saved at the end of each epoch)."


def stored_checkpoint_dirs(checkpoint: Mapping[str, Any]) -> set[str]:
    """Where the run that wrote ``checkpoint`` kept its checkpoints (its ModelCheckpoints')."""
    states = checkpoint.get("callbacks") or {}
    return {
        str(state["dirpath"])
        for key, state in states.items()
        if key.startswith("ModelCheckpoint") and isinstance(state, Mapping) and state.get("dirpath")
    }


def resume_note(checkpoint: Mapping[str, Any], here: Path, ckpt_path: str | Path) -> str | None:
    """What resuming from ``checkpoint`` means for this run's checkpoints, in one line: the
    meaning of Lightning's warnings about it (``litlab.console`` drops those). Lightning keeps
    its record of the best checkpoint only when the run goes on in the folder that wrote it."""
    stored = stored_checkpoint_dirs(checkpoint)
    if not stored:
        return None
    if stored == {str(here)}:
        return (
            f"Continuing this run folder's own {ckpt_path}: its checkpoints are updated in place."
        )
    return (
        f"Resuming from {ckpt_path}: this run's best checkpoint, the one it tests, is the best of "
        f"the epochs it trains; the earlier ones stay in {Path(ckpt_path).parent}."
    )


def learning_rate_hint(trainer: L.Trainer) -> str:
    if not trainer.optimizers:
        return "Try a lower learning rate"
    key, lr = "model.optimizer.lr", trainer.optimizers[0].param_groups[0]["lr"]
    return f"Try a lower learning rate: it is {lr:g}, e.g. {key}={lr / 10:g}"


def resume_hint(trainer: L.Trainer, path: Path) -> str:
    """The command that continues, as it works pasted (with this run's ``--config-dir``s)."""
    known = HydraConfig.initialized()
    dirs = config_dir_args(config_dirs_in_force(HydraConfig.get())) if known else ""
    if is_multirun():
        return f"finish the sweep with: litlab resume {HydraConfig.get().sweep.dir}{dirs}"
    return (
        f"resume with: litlab resume {trainer.default_root_dir}{dirs} "
        f"(or: python train.py <the same overrides> ckpt_path={path})"
    )


class TrainingGuard(L.Callback):
    """Stops training safely in two cases, keeping what it can:

    - at the first ``training_step`` call whose loss is nan or inf, before that state is
      checkpointed (``stop_on_nonfinite_loss``). ``training_step`` returns the loss of each of
      the call's optimizer steps, and one check covers them all: a GPU run waits for the device
      once per call, not once per step. Raises ``TrainingDiverged``, which ``train.py`` prints
      (with what to try) before exiting 2.
    - on resuming training from a checkpoint: says in one line what that means for this run's
      checkpoints (``resume_note``).
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
            f"(trainer.gradient_clip_val=1.0). {kept_checkpoints(trainer)}"
        )

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if trainer.state.fn != "fit":  # a test writes no checkpoint: nothing to say
            return
        note = resume_note(checkpoint, checkpoint_dir(trainer), trainer.ckpt_path)  # type: ignore[arg-type]  # loading: set
        if note:
            rank_zero_info(note)

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        if self.interrupt_checkpoint is None or trainer.state.fn != "fit":
            return
        if not isinstance(exception, INTERRUPTIONS):
            return
        path = checkpoint_dir(trainer) / self.interrupt_checkpoint
        trainer.save_checkpoint(path, weights_only=False)  # all of it: training goes on from it
        if trainer.is_global_zero:
            name = "SIGTERM" if isinstance(exception, SIGTERMException) else "Ctrl-C"
            print(
                f"\n{name} at step {trainer.global_step} (epoch {trainer.current_epoch}): "
                f"saved {path}\n{resume_hint(trainer, path)}",
                file=sys.stderr,
            )
