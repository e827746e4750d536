"""The batches of several optimizer steps, handed to one ``training_step`` call at once.

Lightning calls ``training_step`` once per item its training loader yields, and each call has a
fixed cost of its own (hooks, progress, the loop's bookkeeping). The loaders here yield the rows
of ``steps_per_call`` optimizer steps, each step ``accumulate_grad_batches`` batches, gathered
with one indexing operation; the module takes them apart again as views and runs the steps
(``litlab.models.fused_steps``). The batches are exactly those a one-batch-per-call loader would
yield, in the same order: only the number of calls changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.utils.data import Sampler, default_collate

BatchIndex = Tensor | slice
StepSizes = tuple[tuple[int, ...], ...]  # the batch sizes of each optimizer step


class StepIndices(NamedTuple):
    """What a step sampler yields: the rows of one call, and how they split into steps."""

    rows: BatchIndex
    steps: StepSizes


class StepBatches(NamedTuple):
    """One call's tensors, their rows back to back, and the batch sizes of each step."""

    tensors: tuple[Tensor, ...]
    steps: StepSizes

    def batches_by_step(self) -> Iterator[list[tuple[Tensor, ...]]]:
        """For each optimizer step, its batches: views into ``tensors``, no copies."""
        sizes = [size for step in self.steps for size in step]
        batches = list(zip(*(tensor.split(sizes) for tensor in self.tensors), strict=True))
        start = 0
        for step in self.steps:
            yield batches[start : start + len(step)]
            start += len(step)


def split_into_steps(sizes: Sequence[int], accumulate: int) -> StepSizes:
    """Batch sizes -> one tuple per optimizer step of ``accumulate`` batches (the last may
    have fewer: the epoch's last, shorter window)."""
    return tuple(tuple(sizes[i : i + accumulate]) for i in range(0, len(sizes), accumulate))


def batch_size_of(index: BatchIndex) -> int:
    return index.stop - index.start if isinstance(index, slice) else len(index)


def join_rows(indices: Sequence[BatchIndex]) -> BatchIndex:
    """Several batches' row indices as one: a slice while they are contiguous slices (a view
    of the data, no copy), else one index tensor (one gather)."""
    if all(isinstance(i, slice) for i in indices) and all(
        a.stop == b.start for a, b in zip(indices, indices[1:], strict=False)
    ):
        return slice(indices[0].start, indices[-1].stop)
    device = next((i.device for i in indices if isinstance(i, Tensor)), torch.device("cpu"))
    return torch.cat(
        [
            torch.arange(i.start, i.stop, device=device) if isinstance(i, slice) else i
            for i in indices
        ]
    )


class StepSampler(Sampler[StepIndices]):
    """Groups the batches of a batch-index sampler into calls of ``steps_per_call`` optimizer
    steps of ``accumulate`` batches each. Accumulation windows start afresh every epoch, as
    Lightning's own do, so the last call of an epoch may hold fewer steps, and its last step
    fewer batches.

    ``start_epoch(calls)``, if given, is called as each epoch's order is about to be drawn and
    returns how many calls to skip: a run resumed mid-epoch (``litlab.data.shuffle_state``).

    ``whole_calls``: fill the epoch's last call up with the epoch's first batches, so that every
    call holds the same number of steps. DDP needs it: Lightning deals whole calls out to the
    processes, which must all take as many steps (each ``backward`` averages the gradients
    across them), as ``DistributedSampler`` repeats samples to give every process as many.
    """

    def __init__(
        self,
        batches: Sampler[BatchIndex],
        steps_per_call: int,
        accumulate: int,
        start_epoch: Callable[[int], int] | None = None,
        whole_calls: bool = False,
    ) -> None:
        if steps_per_call < 1 or accumulate < 1:
            raise ValueError(
                f"steps_per_call ({steps_per_call}) and accumulate ({accumulate}) must be >= 1"
            )
        self.batches, self.steps_per_call, self.accumulate = batches, steps_per_call, accumulate
        self.start_epoch, self.whole_calls = start_epoch, whole_calls

    @property
    def batches_per_call(self) -> int:
        return self.steps_per_call * self.accumulate

    def __len__(self) -> int:
        return math.ceil(len(self.batches) / self.batches_per_call)

    def __iter__(self) -> Iterator[StepIndices]:
        skip = self.start_epoch(len(self)) if self.start_epoch else 0
        batches = iter(self.batches)  # draws the order as it goes, skipped calls included
        for _ in islice(batches, skip * self.batches_per_call):
            pass
        first: list[BatchIndex] = []
        while group := list(islice(batches, self.batches_per_call)):
            first = first or group
            if self.whole_calls and len(group) < self.batches_per_call:
                group += (first * self.batches_per_call)[: self.batches_per_call - len(group)]
            sizes = [batch_size_of(index) for index in group]
            yield StepIndices(join_rows(group), split_into_steps(sizes, self.accumulate))


def steps_collate(batch_size: int, accumulate: int) -> Callable[[list[Any]], StepBatches]:
    """A ``collate_fn`` for a ``DataLoader`` of per-sample items whose batch size is a whole
    call's (``steps_per_call x accumulate x batch_size``): the samples are collated at once and
    split back into batches of ``batch_size`` (only the epoch's last batch is shorter)."""

    def collate_steps(samples: list[Any]) -> StepBatches:
        full, rest = divmod(len(samples), batch_size)
        sizes = [batch_size] * full + ([rest] if rest else [])
        return StepBatches(tuple(default_collate(samples)), split_into_steps(sizes, accumulate))

    return collate_steps
