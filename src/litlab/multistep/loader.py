"""The training loader Lightning gets: whatever a data module's ``train_dataloader`` returns,
wrapped so that it resumes mid-epoch exactly and, for a module that runs several optimizer
steps per call (``MultiStepModule``), so that each item holds a call's batches.

Lightning saves a training loader's ``state_dict()`` in the checkpoint's loop state and gives it
back to ``load_state_dict()`` on resume (its "stateful loader" protocol, as torchdata's
``StatefulDataLoader`` has it). ``TrainingLoader`` keeps the random states the epoch's order
was drawn from and the calls trained on since: resumed, it draws the same order and skips them.

``MultiStepCallback`` (``litlab.multistep.callback``), which ``run.build_trainer`` adds to every
run, wraps the data module's ``train_dataloader`` when training starts; a data module needs
nothing for it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from itertools import islice
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.seed import pl_worker_init_function
from lightning.fabric.utilities.types import _Stateful
from lightning.pytorch.utilities import rank_zero_warn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, IterableDataset

from litlab.data.tensor_batches import TensorBatches
from litlab.multistep.batches import (
    CallBatches,
    CallIndices,
    Replay,
    StepBatches,
    StepSampler,
    batch_size_of,
    join_rows,
)


class CallDataset(Dataset[StepBatches | CallBatches]):
    """Answers a call's indices with its batches, each fetched and collated as the wrapped
    loader would; preloaded ``TensorBatches`` answer the whole call with one gather."""

    def __init__(
        self, dataset: Dataset, collate_fn: Callable, auto_collation: bool, gather: bool
    ) -> None:
        self.dataset, self.collate_fn = dataset, collate_fn
        self.auto_collation = auto_collation
        self.gather = gather and isinstance(dataset, TensorBatches) and not auto_collation

    def __getitem__(self, call: CallIndices | Replay) -> StepBatches | CallBatches | None:  # type: ignore[override]
        if isinstance(call, Replay):  # fetched for the worker's random state: nothing to send
            self[call.call]
            return None
        if self.gather:
            sizes = iter([batch_size_of(index) for index in call.batches])
            steps = tuple(tuple(islice(sizes, count)) for count in call.steps)
            return StepBatches(self.dataset[join_rows(call.batches)], steps)
        return CallBatches([self._batch(index) for index in call.batches], call.steps)

    def _batch(self, index: Any) -> Any:
        """What ``DataLoader`` does for one batch (torch's ``_MapDatasetFetcher``)."""
        if not self.auto_collation:
            return self.collate_fn(self.dataset[index])
        getitems = getattr(self.dataset, "__getitems__", None)
        samples = getitems(index) if getitems else [self.dataset[i] for i in index]
        return self.collate_fn(samples)


def as_is(item: Any) -> Any:
    return item


def order_generators(loader: DataLoader) -> list[torch.Generator]:
    """The generators a loader's order (and its workers' seeds) are drawn from."""
    found = [loader.generator, getattr(loader.sampler, "generator", None)]
    found.append(getattr(getattr(loader.batch_sampler, "sampler", None), "generator", None))
    unique = {id(g): g for g in found if isinstance(g, torch.Generator)}
    return list(unique.values())


class TrainingLoader:
    """A map-style ``DataLoader`` rebuilt around a ``StepSampler``: the same batches, the same
    workers and pinning, in calls of ``steps_per_call x accumulate`` batches (``grouped``) or
    one by one; resumable from any call (``state_dict`` / ``load_state_dict``).

    A loader without a generator gets one (seeded from torch's initial seed) for its workers'
    seeds, which ``DataLoader`` would otherwise draw from the global RNG at every epoch's start
    -- a draw a resumed run would make at another point.

    Worker processes: each worker's random stream starts from the seed the epoch's iterator
    draws (the same after a resume: it is drawn from the restored generator) and advances with
    every item it fetches; resumed mid-epoch, the workers fetch the calls already trained on
    again (``Replay``, dropped here), so that they go on as in an uninterrupted run. Where a
    resume cannot be exact -- a sampler that drew another order, workers kept across epochs
    (``persistent_workers``) -- one warning says so."""

    def __init__(
        self,
        loader: DataLoader,
        steps_per_call: int = 1,
        accumulate: int = 1,
        grouped: bool = True,
        trainer: L.Trainer | None = None,
    ) -> None:
        self.loader, self.grouped, self.trainer = loader, grouped, trainer
        auto_collation = loader.batch_sampler is not None
        batches = loader.batch_sampler if auto_collation else loader.sampler
        generator = loader.generator or torch.Generator().manual_seed(torch.initial_seed())
        dealt = isinstance(loader.sampler, DistributedSampler)  # the user deals it out
        replicas = 1 if trainer is None or dealt else trainer.world_size
        rank = 0 if trainer is None or dealt else trainer.global_rank
        self.sampler = StepSampler(
            batches,  # type: ignore[arg-type]  # a loader has a sampler
            steps_per_call if grouped else 1,
            accumulate if grouped else 1,
            order_generators(loader) + ([generator] if loader.generator is None else []),
            replicas,
            rank,
        )
        worker_init_fn = loader.worker_init_fn
        if worker_init_fn is None and int(os.environ.get("PL_SEED_WORKERS", 0)):
            worker_init_fn = partial(pl_worker_init_function, rank=rank)  # as Lightning adds
        dataset = CallDataset(loader.dataset, loader.collate_fn, auto_collation, gather=grouped)
        self.calls = DataLoader(
            dataset,
            sampler=self.sampler,
            batch_size=None,
            collate_fn=as_is,
            num_workers=loader.num_workers,
            pin_memory=loader.pin_memory,
            timeout=loader.timeout,
            worker_init_fn=worker_init_fn,
            multiprocessing_context=loader.multiprocessing_context,
            generator=generator,
            prefetch_factor=loader.prefetch_factor,
            persistent_workers=loader.persistent_workers,
        )
        self.sampler.replay = loader.num_workers > 0
        self.calls_done = 0  # calls of this epoch handed to the model (no prefetching counted)
        self._resumed_fingerprint: str | None = None

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[Any]:
        # At the first item, not at iter(): Lightning calls iter() once more to see that the
        # loader is iterable, and the order must be drawn once per epoch.
        with self.sampler.one_draw():  # the epoch's order, then the workers' base seed
            calls = iter(self.calls)
        self.calls_done = self.sampler.skipped
        self._check_resumed_order()
        for call in calls:
            if call is None:  # a Replay: trained on before the resume
                continue
            self.calls_done += 1
            yield call if self.grouped else call.batches[0]

    def _check_resumed_order(self) -> None:
        expected, self._resumed_fingerprint = self._resumed_fingerprint, None
        if expected is not None and expected != self.sampler.fingerprint:
            rank_zero_warn(
                f"the training loader's sampler ({type(self.loader.sampler).__name__}, batch "
                f"sampler {type(self.loader.batch_sampler).__name__}) drew another order for the "
                "resumed epoch than the interrupted run had: it draws from a random source "
                "litlab does not restore (litlab restores the torch.Generators a loader and its "
                "samplers hold, and torch's global RNG); the rest of this epoch trains on other "
                "batches than an uninterrupted run would."
            )

    def _warn_if_workers_persist(self) -> None:
        loader, trainer = self.loader, self.trainer
        if not (loader.num_workers > 0 and loader.persistent_workers):
            return
        if trainer is not None and trainer.current_epoch == 0:
            return  # the first epoch's workers are replayed from their start
        rank_zero_warn(
            f"the training loader keeps its {loader.num_workers} worker process(es) across "
            "epochs (persistent_workers=True): their random streams (augmentations drawn in "
            "__getitem__) run on from epoch to epoch, and a resumed run starts them afresh, so "
            "it draws other numbers there than an uninterrupted run. persistent_workers=False "
            "resumes exactly."
        )

    def _epoch_finished(self) -> bool:
        """The loader's end, or Lightning's (``trainer.limit_train_batches``)."""
        if self.calls_done >= len(self):
            return True
        trainer = self.trainer
        return trainer is not None and trainer.fit_loop.epoch_loop.batch_progress.is_last_batch

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"generators": self.sampler.random_states()["generators"]}
        if self.sampler.epoch_start is not None and not self._epoch_finished():
            state.update(epoch_start=self.sampler.epoch_start, calls_done=self.calls_done,
                         order=self.sampler.fingerprint)  # fmt: skip
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        generators = self.sampler.generators
        for generator, state in zip(generators, state_dict["generators"], strict=True):
            generator.set_state(state)
        if "epoch_start" in state_dict:
            self.sampler.resume_at(state_dict["epoch_start"], state_dict["calls_done"])
            self._resumed_fingerprint = state_dict.get("order")
        self._warn_if_workers_persist()


class GroupedIterable:
    """Any other iterable of batches (an ``IterableDataset``'s loader, a loader of one's own),
    its consecutive batches grouped into calls. It is not dealt out to DDP processes (as
    Lightning does not deal out an iterable that is not a ``DataLoader``)."""

    def __init__(self, batches: Iterable[Any], steps_per_call: int, accumulate: int) -> None:
        self.batches, self.accumulate = batches, accumulate
        self.per_call = steps_per_call * accumulate

    def __len__(self) -> int:
        return math.ceil(len(self.batches) / self.per_call)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[CallBatches]:
        batches = iter(self.batches)
        while group := list(islice(batches, self.per_call)):
            windows = range(0, len(group), self.accumulate)
            yield CallBatches(group, tuple(len(group[i : i + self.accumulate]) for i in windows))


class StatefulGroupedIterable(GroupedIterable):
    """A stateful iterable (e.g. torchdata's ``StatefulDataLoader``) grouped: its state, taken
    between calls, is where the next call starts."""

    def state_dict(self) -> dict[str, Any]:
        return self.batches.state_dict()  # type: ignore[attr-defined]

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.batches.load_state_dict(state_dict)  # type: ignore[attr-defined]


def wrap_training_loader(
    loader: Any, steps_per_call: int, accumulate: int, grouped: bool, trainer: L.Trainer | None
) -> Any:
    """The training loader Lightning gets for ``loader`` (see the module's docstring)."""
    map_style = isinstance(loader, DataLoader) and not isinstance(loader.dataset, IterableDataset)
    if map_style and not isinstance(loader, _Stateful):
        return TrainingLoader(loader, steps_per_call, accumulate, grouped, trainer)
    if not grouped or not isinstance(loader, Iterable) or isinstance(loader, dict | list):
        return loader  # already resumable, or not one loader: as it is
    if isinstance(loader, _Stateful):
        return StatefulGroupedIterable(loader, steps_per_call, accumulate)
    return GroupedIterable(loader, steps_per_call, accumulate)
