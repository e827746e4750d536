"""``MultiStepCallback``: installs the multi-step loop in a run. ``run.build_trainer`` adds it
to every run; a data module and a module need nothing for it.

When training starts it wraps the data module's ``train_dataloader`` (``wrap_training_loader``:
resumable for any module, grouped into calls of ``steps_per_call`` optimizer steps of
``accumulate_grad_batches`` batches for a ``MultiStepModule``), and gives such a module the
trainer's ``accumulate_grad_batches`` and ``gradient_clip_*``: the trainer's keys are the one
place they are set, for any module (Lightning refuses both under manual optimization, so
``run.build_trainer`` switches Lightning's off and hands them here). A data module's
``on_after_batch_transfer`` (an augmentation) gets each batch as the loader yields it, never a
call's container (``litlab.multistep.batches``).

Lightning gives a loader its state back only when resuming mid-epoch; the generators the
next epoch's order is drawn from are needed after an epoch's end too, so the callback keeps
the loader's state in checkpoints as well, and hands it to the loader it wraps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
from lightning.pytorch.utilities.model_helpers import is_overridden

from litlab.multistep.batches import CallBatches, StepBatches
from litlab.multistep.loader import TrainingLoader, wrap_training_loader
from litlab.multistep.module import MultiStepModule, accumulation  # noqa: F401 - old path


class _WrappedTrainDataloader:
    """Stands in for a data module's ``train_dataloader`` method; hands a new wrapper the
    state the callback was resumed with."""

    def __init__(self, method: Callable[[], Any], callback: MultiStepCallback) -> None:
        self.__wrapped__ = method  # what Lightning's is_overridden looks at
        self.callback = callback
        self.trainer: L.Trainer | None = None
        self.grouped = False

    def __call__(self) -> Any:
        callback = self.callback
        loader = wrap_training_loader(
            self.__wrapped__(), callback.steps_per_call, callback.accumulate_grad_batches,
            self.grouped, self.trainer,
        )  # fmt: skip
        callback.loader = loader if isinstance(loader, TrainingLoader) else None
        if callback.loader is not None and callback.resumed_state is not None:
            callback.loader.load_state_dict(callback.resumed_state)
        callback.resumed_state = None
        return loader


class _PerBatchHook:
    """Stands in for a data module's ``on_after_batch_transfer``: a call's batches go through
    it one by one (a call of gathered tensors as one batch of their rows), so the hook sees
    batches as the data module's loader yields them."""

    def __init__(self, method: Callable[[Any, int], Any]) -> None:
        self.__wrapped__ = method  # what Lightning's is_overridden looks at

    def __call__(self, batch: Any, dataloader_idx: int) -> Any:
        if isinstance(batch, StepBatches | CallBatches):
            return batch.map_batches(lambda each: self.__wrapped__(each, dataloader_idx))
        return self.__wrapped__(batch, dataloader_idx)


class MultiStepCallback(L.Callback):
    """Wraps the data module's training loader (see the module's docstring) and hands a
    ``MultiStepModule`` its accumulation and clipping."""

    def __init__(
        self,
        steps_per_call: int = 1,
        accumulate_grad_batches: int = 1,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        self.steps_per_call = steps_per_call
        self.accumulate_grad_batches = accumulate_grad_batches or 1
        self.gradient_clip_val = gradient_clip_val
        self.gradient_clip_algorithm = gradient_clip_algorithm
        self.loader: TrainingLoader | None = None
        self.resumed_state: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"loader": self.loader.state_dict()} if self.loader is not None else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.resumed_state = state_dict.get("loader")

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        multistep = isinstance(pl_module, MultiStepModule)
        if multistep:
            pl_module.accumulate_grad_batches = self.accumulate_grad_batches  # type: ignore[assignment]  # a MultiStepModule here
            pl_module.gradient_clip_val = self.gradient_clip_val  # type: ignore[assignment]  # a MultiStepModule here
            pl_module.gradient_clip_algorithm = self.gradient_clip_algorithm  # type: ignore[assignment]  # a MultiStepModule here
        datamodule = trainer.datamodule  # type: ignore[attr-defined]  # set by Lightning's data connector, undeclared on Trainer
        if stage != "fit" or datamodule is None:
            return
        wrapped = vars(datamodule).get("train_dataloader")
        if not isinstance(wrapped, _WrappedTrainDataloader):
            wrapped = _WrappedTrainDataloader(datamodule.train_dataloader, self)
            datamodule.train_dataloader = wrapped
        wrapped.trainer, wrapped.callback = trainer, self
        wrapped.grouped = multistep
        hook = vars(datamodule).get("on_after_batch_transfer")
        if not isinstance(hook, _PerBatchHook) and is_overridden(
            "on_after_batch_transfer", datamodule
        ):
            datamodule.on_after_batch_transfer = _PerBatchHook(datamodule.on_after_batch_transfer)
