"""Fashion-MNIST's normalised tensors, decoded once per process and copied for each job.

Reading the IDX files, normalising 60k images and gathering the 55k training rows took 1.5-3 s
a job on a 2-core machine: more than a short sweep job's training. A sweep's jobs in one
process (Hydra's basic launcher, an Optuna search) read the same files, so the result is kept,
keyed by each file's path, modification time and size (a replaced file is read again) and by
the values that shape it (mean, std, seed, val_size).

Nothing is shared between jobs that a job could change: the tensors are kept in an unnamed
temporary file, and each job maps it copy-on-write (``numpy.memmap(mode="c")``, a private
mapping): reading costs nothing more than the page cache, and a job that writes into its data
writes into pages of its own, never into the file or another job's. (A copy per job, 220 MB,
took 0.4-1 s on a busy 2-core machine.) A job's result is bitwise what it is alone
(tests/data/test_data.py checks it).
"""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import IO

import numpy as np
import torch
from torch.utils.data import random_split
from torchvision.datasets.mnist import read_image_file, read_label_file

from litlab.data.tensor_batches import TensorBatches

FileKey = tuple[str, int, int]  # path, mtime (ns), size


def file_key(path: Path) -> FileKey:
    stat = os.stat(path)
    return str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size


def split_files(raw: Path, train: bool) -> tuple[FileKey, FileKey]:
    prefix = "train" if train else "t10k"
    return (file_key(raw / f"{prefix}-images-idx3-ubyte"),
            file_key(raw / f"{prefix}-labels-idx1-ubyte"))  # fmt: skip


def normalised(images: FileKey, labels: FileKey, mean: float, std: float) -> TensorBatches:
    """All images as one (N, 1, 28, 28) float tensor, normalised as torchvision's
    ``ToTensor`` + ``Normalize`` do (the same operations, in the same order)."""
    pixels = read_image_file(images[0]).unsqueeze(1).float()  # in place from here: 188 MB
    pixels.div_(255).sub_(mean).div_(std)
    return TensorBatches(pixels, read_label_file(labels[0]).long())


class PrivateCopies:
    """Tensors kept in an unnamed file (gone when the process ends), handed out copy-on-write."""

    def __init__(self, batches: TensorBatches) -> None:
        self.files: list[tuple[IO[bytes], tuple[int, ...], np.dtype]] = []
        for tensor in batches.tensors:
            array = tensor.contiguous().numpy()
            file = tempfile.TemporaryFile()  # noqa: SIM115 - kept open for the process's jobs
            array.tofile(file)
            file.flush()
            self.files.append((file, array.shape, array.dtype))
        self.indices = batches.indices

    def __len__(self) -> int:
        return self.files[0][1][0]

    def copy(self) -> TensorBatches:
        """The tensors as this job's own: mapped privately, so writes stay in this job."""
        tensors = [torch.from_numpy(np.memmap(file, dtype, mode="c", shape=shape))
                   for file, shape, dtype in self.files]  # fmt: skip
        indices = None if self.indices is None else self.indices.clone()
        return TensorBatches(*tensors, indices=indices)


@lru_cache(maxsize=2)
def _train_val(
    images: FileKey, labels: FileKey, mean: float, std: float, seed: int, val_size: int
) -> tuple[PrivateCopies, PrivateCopies]:
    full = normalised(images, labels, mean, std)
    split = torch.Generator().manual_seed(seed)  # the split of FashionMNISTDataModule._split
    subsets = random_split(range(len(full)), [len(full) - val_size, val_size], generator=split)  # type: ignore[arg-type,var-annotated]  # noqa: E501 - a range is a sequence
    rows = (full.rows(torch.tensor(subset.indices)) for subset in subsets)
    return tuple(PrivateCopies(part) for part in rows)  # type: ignore[return-value]


@lru_cache(maxsize=2)
def _test(images: FileKey, labels: FileKey, mean: float, std: float) -> PrivateCopies:
    return PrivateCopies(normalised(images, labels, mean, std))


def train_val_tensors(
    raw: Path, mean: float, std: float, seed: int, val_size: int
) -> tuple[TensorBatches, TensorBatches]:
    """This job's own copies of the training and validation rows."""
    train, val = _train_val(*split_files(raw, True), mean, std, seed, val_size)
    return train.copy(), val.copy()


def test_tensors(raw: Path, mean: float, std: float) -> TensorBatches:
    """This job's own copy of the 10k test images."""
    return _test(*split_files(raw, False), mean, std).copy()


def clear() -> None:
    """Forget the kept tensors (tests, or a process that needs the memory back)."""
    _train_val.cache_clear()
    _test.cache_clear()
