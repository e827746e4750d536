"""Batches gathered from in-memory tensors by index: one gather per batch, no per-sample calls.

A ``DataLoader`` built the usual way calls ``Dataset.__getitem__`` once per sample and then
``collate_fn`` to stack the samples: for 64 small images (or 200 scalars) that costs more than
the model's step. Here the sampler yields one index tensor per batch, the ``DataLoader`` runs
with ``batch_size=None`` (no automatic batching, no collate), and the dataset answers the whole
batch with one indexing operation per tensor.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

BatchIndex = Tensor | slice


class TensorBatches(Dataset[tuple[Tensor, ...]]):
    """Equal-length tensors, indexed by a batch of row indices (a tensor or a slice) at once.

    ``indices`` records which rows of the source data set these are (like ``Subset.indices``).
    """

    def __init__(self, *tensors: Tensor, indices: Tensor | None = None) -> None:
        if not tensors or any(len(t) != len(tensors[0]) for t in tensors):
            raise ValueError("TensorBatches needs one or more tensors of equal length")
        self.tensors = tensors
        self.indices = indices

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, index: BatchIndex) -> tuple[Tensor, ...]:
        return tuple(t[index] for t in self.tensors)

    def rows(self, indices: Tensor) -> TensorBatches:
        """A copy holding only these rows; ``indices`` records them."""
        return TensorBatches(*self[indices], indices=indices)

    def copy(self) -> TensorBatches:
        """The same rows in memory of their own (writing into one leaves the other as it was)."""
        indices = None if self.indices is None else self.indices.clone()
        return TensorBatches(*(t.clone() for t in self.tensors), indices=indices)

    @property
    def device(self) -> torch.device:
        return self.tensors[0].device

    def to(self, device: torch.device | str) -> TensorBatches:
        """The same rows on ``device``; a no-op when they are there already."""
        return TensorBatches(*(t.to(device) for t in self.tensors), indices=self.indices)


class BatchIndexSampler(Sampler[BatchIndex]):
    """Yields one batch of row indices at a time, ``passes`` passes over the rows per epoch.

    Shuffled: a fresh permutation per pass, drawn from ``generator``, so the order depends on
    the seed alone (the training loader keeps its state in checkpoints:
    ``litlab.multistep.loader``). The permutation is moved to ``device`` once per pass, so
    that batches of data held on a GPU are gathered there. Unshuffled: contiguous slices (views,
    no copy). ``len()`` is the number of batches per epoch, as Lightning needs.
    """

    def __init__(
        self,
        size: int,
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        passes: int = 1,
        device: torch.device | str = "cpu",
    ) -> None:
        if batch_size < 1 or passes < 1:
            raise ValueError(f"batch_size ({batch_size}) and passes ({passes}) must be >= 1")
        self.size, self.batch_size, self.shuffle = size, batch_size, shuffle
        self.generator, self.passes, self.device = generator, passes, torch.device(device)

    def __len__(self) -> int:
        return self.passes * math.ceil(self.size / self.batch_size)

    def __iter__(self) -> Iterator[BatchIndex]:
        for _ in range(self.passes):
            if not self.shuffle:
                for start in range(0, self.size, self.batch_size):
                    yield slice(start, min(start + self.batch_size, self.size))
                continue
            order = torch.randperm(self.size, generator=self.generator).to(self.device)
            yield from order.split(self.batch_size)


def batch_loader(
    dataset: TensorBatches,
    batch_size: int,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    passes: int = 1,
) -> DataLoader:
    """A ``DataLoader`` over whole batches of ``dataset`` (in the main process, on its device),
    shuffled from ``generator`` if asked. For training, ``litlab.multistep.loader`` groups
    its batches into calls of several optimizer steps, each call still one gather."""
    sampler = BatchIndexSampler(
        len(dataset), batch_size, shuffle, generator, passes, device=dataset.device
    )
    return DataLoader(
        dataset,
        sampler=sampler,
        batch_size=None,
        generator=generator,
        collate_fn=as_gathered,  # type: ignore[arg-type]
    )


def as_gathered(batch: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """The dataset's answer as it is (the default would turn its tuples into lists)."""
    return batch
