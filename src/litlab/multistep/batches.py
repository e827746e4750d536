"""The batches of several optimizer steps, handed to one ``training_step`` call at once.

Lightning calls ``training_step`` once per item its training loader yields, and each call has a
fixed cost of its own (hooks, progress, the loop's bookkeeping). ``StepSampler`` groups the
batches of any batch sampler into calls of ``steps_per_call`` optimizer steps, each step
``accumulate`` batches; ``litlab.multistep.loader`` fetches each call's batches as one item,
and the module takes them apart again and runs the steps (``litlab.multistep.module``). The
batches are exactly those the loader would yield one by one, in the same order: only the number
of calls changes.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.utils.data import Sampler

BatchIndex = Any  # what a batch sampler yields: a list of indices, an index tensor, a slice
StepSizes = tuple[tuple[int, ...], ...]  # the batch sizes of each optimizer step


class CallIndices(NamedTuple):
    """What a step sampler yields: the index of each batch of one call, and how many of them
    each optimizer step takes."""

    batches: tuple[BatchIndex, ...]
    steps: tuple[int, ...]


class Replay(NamedTuple):
    """A call trained on before a resume, fetched again only to advance the worker that
    fetches it (its random state) as far as in the interrupted run; nothing trains on it."""

    call: CallIndices


class StepBatches(NamedTuple):
    """One call of preloaded tensors: their rows back to back (one gather), and the batch
    sizes of each step."""

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

    def map_batches(self, fn: Callable[[Any], Any]) -> StepBatches:
        """``fn`` applied to the call's rows as one batch (a tuple of tensors, as the loader
        of ``TensorBatches`` yields one); it must keep the rows' count and order."""
        return StepBatches(tuple(fn(self.tensors)), self.steps)


class CallBatches(NamedTuple):
    """One call of any loader's batches (tuples, dicts, ...), each collated as the loader
    collates it, and how many batches each optimizer step takes."""

    batches: list[Any]
    steps: tuple[int, ...]

    def batches_by_step(self) -> Iterator[list[Any]]:
        start = 0
        for count in self.steps:
            yield self.batches[start : start + count]
            start += count

    def map_batches(self, fn: Callable[[Any], Any]) -> CallBatches:
        """``fn`` applied to each batch of the call."""
        return CallBatches([fn(batch) for batch in self.batches], self.steps)


def batches_by_step(item: Any) -> Iterator[list[Any]]:
    """A training item's optimizer steps: a call's (``StepBatches``, ``CallBatches``), or one
    plain batch as one step (a loader that was not grouped)."""
    if isinstance(item, StepBatches | CallBatches):
        return item.batches_by_step()
    return iter([[item]])


def samples_in(batch: Any) -> int:
    """A batch's sample count, whatever its structure: the length of its first tensor."""
    tensor = _first_tensor(batch)
    if tensor is None:
        raise TypeError(f"a training batch holds no tensor to count its samples: {type(batch)}")
    return len(tensor)


def _first_tensor(batch: Any) -> Tensor | None:
    if isinstance(batch, Tensor):
        return batch
    items = batch.values() if isinstance(batch, Mapping) else batch
    if isinstance(items, Sequence | type({}.values())) and not isinstance(items, str | bytes):
        for item in items:
            if (tensor := _first_tensor(item)) is not None:
                return tensor
    return None


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
            torch.arange(i.start, i.stop, device=device)
            if isinstance(i, slice)
            else torch.as_tensor(i, device=device)
            for i in indices
        ]
    )


def order_fingerprint(order: Sequence[BatchIndex]) -> str:
    """A digest of an epoch's batches (lists, tensors or slices of indices)."""
    digest = hashlib.blake2b(digest_size=16)
    for index in order:
        if isinstance(index, Tensor):
            digest.update(index.detach().cpu().numpy().tobytes())
        else:
            digest.update(repr(index).encode())
        digest.update(b";")
    return digest.hexdigest()


class StepSampler(Sampler[CallIndices | Replay]):
    """Groups the batches of a batch sampler into calls of ``steps_per_call`` optimizer steps
    of ``accumulate`` batches each. Accumulation windows start afresh every epoch, as
    Lightning's own do, so the last call of an epoch may hold fewer steps, and its last step
    fewer batches.

    The epoch's order is drawn at once when the epoch starts, and the random states it was
    drawn from are kept (``epoch_start``): ``resume_at(states, calls)`` draws that order again
    at the next epoch's start and skips the calls already trained on -- or, with ``replay``
    (a loader with worker processes), yields them as ``Replay`` items first, so that each
    worker fetches what it fetched before the interruption and its random stream (an
    augmentation's draws) goes on from where it was. ``fingerprint`` identifies the epoch's
    order, so that a resume can tell whether it drew the same one.

    ``replicas`` > 1 (DDP): the epoch's last call is filled up with the epoch's first batches,
    and the calls are dealt out, ``rank`` taking every ``replicas``-th (the first calls repeat
    when they do not divide evenly), so that every process takes as many steps: each
    ``backward`` averages the gradients across them.
    """

    def __init__(
        self,
        batches: Iterable[BatchIndex],
        steps_per_call: int,
        accumulate: int,
        generators: Sequence[torch.Generator] = (),
        replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if steps_per_call < 1 or accumulate < 1:
            raise ValueError(
                f"steps_per_call ({steps_per_call}) and accumulate ({accumulate}) must be >= 1"
            )
        self.batches, self.steps_per_call, self.accumulate = batches, steps_per_call, accumulate
        self.generators, self.replicas, self.rank = list(generators), replicas, rank
        self.epoch_start: dict[str, Any] | None = None
        self.skipped = 0  # calls of this epoch trained on before a resume
        self.replay = False
        self.fingerprint: str | None = None
        self._resume: tuple[dict[str, Any], int] | None = None
        self._drawn: list[CallIndices | Replay] | None = None

    @property
    def batches_per_call(self) -> int:
        return self.steps_per_call * self.accumulate

    def __len__(self) -> int:
        calls = math.ceil(len(self.batches) / self.batches_per_call)  # type: ignore[arg-type]
        return math.ceil(calls / self.replicas)

    def random_states(self) -> dict[str, Any]:
        """What the order is drawn from: the samplers' generators and torch's global RNG (a
        ``RandomSampler`` without a generator draws its seed there)."""
        return {"generators": [g.get_state() for g in self.generators],
                "torch": torch.get_rng_state()}  # fmt: skip

    def resume_at(self, states: dict[str, Any], calls: int) -> None:
        self._resume = (states, calls)

    @contextmanager
    def one_draw(self) -> Iterator[None]:
        """Within it, every ``iter()`` yields one epoch, drawn once: a ``DataLoader`` with
        worker processes iterates its sampler twice as its iterator starts (in ``__init__``
        and again in ``_reset``), and the order must be drawn, and the resume used, once."""
        self._drawn = self._draw()
        try:
            yield
        finally:
            self._drawn = None

    def __iter__(self) -> Iterator[CallIndices | Replay]:
        return iter(self._drawn if self._drawn is not None else self._draw())

    def _draw(self) -> list[CallIndices | Replay]:
        """The epoch's calls: a fresh order, or the interrupted epoch's again (``resume_at``)."""
        resume, self._resume = self._resume, None
        skip = 0
        if resume is None:
            self.epoch_start = self.random_states()
            order = list(self.batches)
        else:
            self.epoch_start, skip = resume
            for generator, state in zip(
                self.generators, self.epoch_start["generators"], strict=True
            ):
                generator.set_state(state)
            with torch.random.fork_rng(devices=[]):  # the global RNG stays where it was resumed
                torch.set_rng_state(self.epoch_start["torch"])
                order = list(self.batches)
        calls = [
            order[i : i + self.batches_per_call]
            for i in range(0, len(order), self.batches_per_call)
        ]
        if self.replicas > 1:
            calls = self._dealt(calls)
        self.skipped, self.fingerprint = skip, order_fingerprint(order)
        done = [Replay(self._call(batches)) for batches in calls[:skip]] if self.replay else []
        return done + [self._call(batches) for batches in calls[skip:]]

    def _dealt(self, calls: list[list[BatchIndex]]) -> list[list[BatchIndex]]:
        per_call = self.batches_per_call
        if calls and len(calls[-1]) < per_call:
            calls[-1] = calls[-1] + (calls[0] * per_call)[: per_call - len(calls[-1])]
        total = math.ceil(len(calls) / self.replicas) * self.replicas
        calls = (calls * math.ceil(total / max(len(calls), 1)))[:total]
        return calls[self.rank :: self.replicas]

    def _call(self, batches: list[BatchIndex]) -> CallIndices:
        windows = range(0, len(batches), self.accumulate)
        return CallIndices(
            tuple(batches), tuple(len(batches[i : i + self.accumulate]) for i in windows)
        )
