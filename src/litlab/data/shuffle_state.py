"""The training order as checkpoint state, so that a resumed run trains on the batches an
uninterrupted run would have -- also when the checkpoint was written in the middle of an epoch
(Ctrl-C, SIGTERM, a preempted job).

The order comes from the data module's own generator: one permutation per pass, drawn when the
pass starts. A checkpoint holds the generator's state when the current epoch's order was drawn
and the number of training calls that reached the model since (counted as each batch is
handed to the model, not as Lightning prefetches it). A run resumed from it draws the same
order again and skips the calls already trained on; from an epoch's end it simply goes on.
"""

from __future__ import annotations

from typing import Any

import torch

from litlab.data.spawn_safe import SpawnSafeGenerator
from litlab.data.steps import StepBatches


class ResumableShuffle(SpawnSafeGenerator):
    """Mixin for a ``LightningDataModule`` whose training loader is a ``StepSampler`` given
    ``start_epoch``: the shuffling generator and the epoch's position, saved in checkpoints."""

    generator: torch.Generator
    trainer: Any

    def init_shuffle(self, seed: int) -> None:
        self.generator = torch.Generator().manual_seed(seed)
        self._epoch_start: torch.Tensor | None = None  # generator state the epoch began with
        self._calls_done = 0  # training calls of this epoch that reached the model
        self._resume_at: tuple[torch.Tensor, int] | None = None

    @property
    def processes(self) -> int:
        """The training processes (DDP's world size); 1 without a trainer."""
        return 1 if self.trainer is None else self.trainer.world_size

    def start_epoch(self, calls_per_epoch: int) -> int:
        """Called as the training order for an epoch is drawn; returns the calls to skip."""
        resume, self._resume_at = self._resume_at, None
        if resume is not None and 0 < resume[1] < calls_per_epoch:
            self.generator.set_state(resume[0])
            self._epoch_start, self._calls_done = resume
            return self._calls_done
        self._epoch_start, self._calls_done = self.generator.get_state(), 0
        return 0

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if isinstance(batch, StepBatches):  # a training call (not validation, not an example)
            self._calls_done += 1
        return batch

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"generator": self.generator.get_state()}
        if self._epoch_start is not None and not self._epoch_finished():
            state.update(epoch_start=self._epoch_start, calls_done=self._calls_done)
        return state

    def _epoch_finished(self) -> bool:
        """Whether Lightning has run the epoch's last call: the loader's end, or
        ``trainer.limit_train_batches`` (the order then goes on with the next epoch's)."""
        return self.trainer is None or self.trainer.fit_loop.epoch_loop.batch_progress.is_last_batch

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.generator.set_state(state_dict["generator"])
        # Under DDP each rank takes its share of the epoch's calls: Lightning then restarts the
        # epoch's order (as it does for any loader that cannot say where it was).
        if "epoch_start" in state_dict and self.processes == 1:
            self._resume_at = (state_dict["epoch_start"], state_dict["calls_done"])
