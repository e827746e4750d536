"""The training loop written out in ``training_step``: several optimizer steps per call.

Lightning's automatic optimization runs one optimizer step per ``training_step`` call, and each
call costs a fixed amount of the framework's own bookkeeping (benchmarks/README.md; on a GPU
at small batches it is most of the step). The training loader hands over the batches of several
steps at once (any data module's: ``litlab.multistep.loader``), and ``training_step`` runs
the loop the PyTorch fundamentals teach, once per step, whatever a batch is (a tuple, a dict)::

    for each batch of the step:  loss = f(batch); backward(loss x its share of the samples)
    clip the gradient; optimizer.step(); optimizer.zero_grad(); step-interval schedulers

Manual optimization (``self.manual_backward``, ``self.optimizers()``) keeps Lightning's step
count, ``max_steps``, checkpoints, loggers and DDP's gradient averaging working. Lightning
refuses its own gradient accumulation and clipping in this mode, so the module does both: the
loader groups ``trainer.accumulate_grad_batches`` batches per step, and ``MultiStepCallback``
hands the module ``trainer.gradient_clip_val`` / ``trainer.gradient_clip_algorithm`` (the one
place clipping is set, for any module: both set up by ``run.build_trainer``).

A subclass says what one batch's loss is (``batch_loss``) and what its optimizer is
(``configure_optimizers``); the rest is Lightning's as usual.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any, cast

import lightning as L
import torch
from lightning.fabric.utilities.apply_func import apply_to_collection
from lightning.pytorch.core.optimizer import LightningOptimizer
from torch import Tensor

from litlab.errors import ConfigValueError
from litlab.multistep.batches import batches_by_step, samples_in
from litlab.multistep.epoch_mean import EpochMean

# Lightning calls these on every callback at every optimizer step (manual_backward and the
# optimizer's step call them), whether the callback has them or not: each costs time every step.
STEP_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")


@cache
def has_step_hooks(callback_type: type[L.Callback]) -> bool:
    """Whether the class overrides a step hook (once per class: it is asked every call)."""
    overrides = (
        getattr(callback_type, hook) is not getattr(L.Callback, hook) for hook in STEP_HOOKS
    )
    return any(overrides)


@contextmanager
def only_callbacks_with_step_hooks(trainer: L.Trainer) -> Iterator[None]:
    """Within a call's steps, Lightning calls only the callbacks that act inside a step: the
    same hooks run, without a few microseconds spent on each of the others, per step."""
    everyone = trainer.callbacks  # type: ignore[attr-defined]  # undeclared on Trainer
    trainer.callbacks = [callback for callback in everyone if has_step_hooks(type(callback))]  # type: ignore[attr-defined,arg-type]
    try:
        yield
    finally:
        trainer.callbacks = everyone  # type: ignore[attr-defined]  # undeclared on Trainer


def refuse_module_clipping(value: float | None, algorithm: str | None) -> None:
    """Clipping is the trainer's key, for every module (``MultiStepCallback`` hands it over):
    a module's own ``gradient_clip_*`` (an earlier version's) is refused, naming the key. None
    is accepted, as the hyperparameters of earlier checkpoints hold it."""
    for key, given in (("gradient_clip_val", value), ("gradient_clip_algorithm", algorithm)):
        if given is not None:
            raise ConfigValueError(
                f"model.{key}", given, f"clipping is set in one place: trainer.{key}={given}"
            )


def _cast_floats(tensor: Tensor, dtype: torch.dtype) -> Tensor:
    return tensor.to(dtype) if tensor.is_floating_point() and tensor.dtype != dtype else tensor


class MultiStepModule(L.LightningModule):
    """Runs each call's optimizer steps; subclasses say what one batch's loss is.

    ``accumulate_grad_batches`` and ``gradient_clip_*`` are the trainer's, set by
    ``MultiStepCallback`` when a run starts (not constructor arguments: one place sets them)."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.accumulate_grad_batches = 1
        self.gradient_clip_val: float | None = None
        self.gradient_clip_algorithm: str | None = None

    @property
    def example_input_array(self) -> Any:
        """The example input, its floats in the module's dtype: Lightning casts batches to the
        precision's dtype (``convert_input``), but not the example its model summary and
        TensorBoard's graph run through the module (``trainer.precision=64-true`` would fail
        there with "mat1 and mat2 must have the same dtype")."""
        example = self._example_input_array
        return apply_to_collection(example, Tensor, _cast_floats, self.dtype)

    @example_input_array.setter
    def example_input_array(self, example: Any) -> None:
        self._example_input_array = example

    def batch_loss(self, batch: Any, stage: str) -> Tensor:
        """The mean loss of one batch (as the loader yields it), for ``stage``."""
        raise NotImplementedError

    def training_step(self, batch: Any, batch_idx: int) -> dict[str, Tensor]:
        """The call's optimizer steps, each over its batches; returns each step's loss. A plain
        batch (a loader not grouped: ``litlab.multistep.loader``) is one step."""
        step_losses = []
        with only_callbacks_with_step_hooks(self.trainer):
            for step in self._steps_left(batch):
                sizes = [samples_in(each) for each in step]
                losses = []
                for each, size in zip(step, sizes, strict=True):
                    loss = self.batch_loss(each, "train")
                    share = size / sum(sizes)  # 1 without accumulation
                    losses.append(loss if share == 1 else loss * share)
                    self.manual_backward(losses[-1])
                self.update_weights()
                step_losses.append(losses[0] if len(losses) == 1 else sum(losses))
        self._count_logged_steps_as_optimizer_steps()
        # one tensor for the call: TrainingGuard checks it with one host sync per call
        return {"loss": torch.stack(step_losses).detach()}  # type: ignore[arg-type]  # sums of tensors

    def _count_logged_steps_as_optimizer_steps(self) -> None:
        """The loggers' x axis (TensorBoard, metrics.csv) counts optimizer steps, as
        ``global_step``, ``max_steps`` and the console do. Lightning's loggers count "batches that
        stepped", once per call here (``trainer.fit_loop.epoch_loop._batches_that_stepped``: the
        counter its logger connector and LearningRateMonitor read); one less than the steps
        taken, as Lightning's own count is before it adds this call."""
        self.trainer.fit_loop.epoch_loop._batches_that_stepped = self.trainer.global_step - 1

    def _steps_left(self, batch: Any) -> list[list[Any]]:
        """The call's steps, cut where ``trainer.max_steps`` ends training."""
        steps = list(batches_by_step(batch))
        max_steps = self.trainer.max_steps
        if max_steps >= 0:
            steps = steps[: max(max_steps - self.trainer.global_step, 0)]
        return steps

    def update_weights(self) -> None:
        """One optimizer step on the accumulated gradient."""
        optimizer = cast(LightningOptimizer, self.optimizers())  # the module's one optimizer
        if self.gradient_clip_val:
            self.clip_gradients(optimizer, self.gradient_clip_val, self.gradient_clip_algorithm)  # type: ignore[arg-type]  # noqa: E501 - Lightning's docs pass its wrapper
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        self._step_schedulers("step")

    def on_train_epoch_end(self) -> None:
        self._step_schedulers("epoch")

    def _step_schedulers(self, interval: str) -> None:
        """What Lightning does for automatic optimization only: step each scheduler at its
        ``interval``, every ``frequency`` steps or epochs."""
        trainer = self.trainer
        count = trainer.global_step if interval == "step" else trainer.current_epoch + 1
        for config in trainer.lr_scheduler_configs:
            if config.interval != interval or count % config.frequency:
                continue
            if config.reduce_on_plateau:
                config.scheduler.step(trainer.callback_metrics[config.monitor])  # type: ignore[arg-type,index]
            else:
                config.scheduler.step()  # type: ignore[call-arg]  # not ReduceLROnPlateau

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """The epoch's running metric sums, for a checkpoint written mid-epoch (they are not
        model state: see ``EpochMean``)."""
        checkpoint["epoch_metric_sums"] = {
            name: module.sums.detach().cpu().clone()
            for name, module in self.named_modules()
            if isinstance(module, EpochMean)
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Resuming in the middle of an epoch, the epoch's metrics go on from the sums so far,
        so that ``train/loss`` and ``train/acc`` are those of the uninterrupted epoch."""
        progress = checkpoint.get("loops", {}).get("fit_loop", {})
        batches = progress.get("epoch_loop.batch_progress", {})
        mid_epoch = batches.get("current", {}).get("completed", 0) > 0
        if not mid_epoch or batches.get("is_last_batch", True):
            return
        sums = checkpoint.get("epoch_metric_sums", {})
        for name, module in self.named_modules():
            if isinstance(module, EpochMean) and name in sums:
                module.sums = sums[name].clone()

    def configure_optimizers(self) -> Any:
        raise NotImplementedError


def accumulation(trainer: L.Trainer) -> int:
    """Batches per optimizer step: a ``MultiStepModule``'s (the loader groups them), else
    Lightning's."""
    module = trainer.lightning_module
    if isinstance(module, MultiStepModule):
        return module.accumulate_grad_batches
    return trainer.accumulate_grad_batches
