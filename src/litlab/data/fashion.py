"""Fashion-MNIST: 55k/5k train/validation split of the official 60k, and the official 10k test.

Two ways to serve it, chosen by ``preload`` (``data.preload`` in the config):

- ``true`` (default): the images are normalised once into one float tensor, moved to the
  trainer's device (the GPU when training on one), and served a whole batch per index operation
  (``litlab.data.tensor_batches``). An epoch costs about what a plain loop over tensors costs.
  The tensors are decoded once per process and copied for each job (``fashion_cache``).
- ``false``: torchvision's ``FashionMNIST`` Dataset with per-sample transforms, batched by a
  ``DataLoader`` (workers, pinned memory). The place for PIL-level transforms.

Both give the same split, the same normalised pixels and the same sizes; shuffling draws from the
module's own seeded generator in both, so the order depends on ``seed`` alone. Validation and test
batches hold ``eval_batch_size`` images (no gradients are kept, so a large batch fits; the
metrics are means over the images, the same at any batch size up to float rounding).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.data import AttributeDict
from torch.utils.data import DataLoader, Dataset, Subset, random_split
from torchvision import transforms
from torchvision.datasets import FashionMNIST

from litlab.data.fashion_cache import test_tensors, train_val_tensors
from litlab.data.fashion_files import DEBIAN_DIR, ensure_fashion_mnist, raw_folder
from litlab.data.spawn_safe import SpawnSafeGenerator
from litlab.data.tensor_batches import TensorBatches, batch_loader
from litlab.errors import ConfigValueError

CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
TRAIN_SIZE = 60_000
BatchTransform = Callable[[torch.Tensor], torch.Tensor]


def check_val_size(val_size: int) -> None:
    whole = isinstance(val_size, int) and not isinstance(val_size, bool)
    if not (whole and 0 < val_size < TRAIN_SIZE):
        raise ConfigValueError(
            "data.val_size",
            val_size,
            f"must be a whole number in (0, {TRAIN_SIZE}), the size of the training set",
        )


def check_workers(preload: bool, num_workers: int) -> None:
    """Worker processes have nothing to do when batches are gathered from preloaded tensors."""
    if preload and num_workers != 0:
        raise ConfigValueError(
            "data.num_workers",
            num_workers,
            "must be 0 with data.preload=true (batches are gathered in the main process, "
            "on the device); set data.preload=false to load with worker processes",
        )


class FashionMNISTDataModule(SpawnSafeGenerator, L.LightningDataModule):
    """Preloaded tensors batched by index (``preload=True``), or torchvision's Dataset.

    ``augment``, when given, is applied to each training batch's images on the device (see
    ``litlab.data.augment``), on either path.
    """

    hparams: AttributeDict  # save_hyperparameters() makes it one; Lightning types it a Mapping

    def __init__(
        self,
        data_dir: str | Path = "data",
        val_size: int = 5000,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = False,
        seed: int = 42,
        mean: float = 0.2860,
        std: float = 0.3530,
        system_dir: str | Path | None = DEBIAN_DIR,
        allow_download: bool = True,
        preload: bool = True,
        augment: BatchTransform | None = None,
        shuffle: bool = True,
        eval_batch_size: int | None = None,
    ) -> None:
        super().__init__()
        check_val_size(val_size)
        check_workers(preload, num_workers)
        self.save_hyperparameters(ignore=["augment"])
        self.classes = CLASSES  # names of labels 0-9 (the test figures' titles)
        self.augment = augment
        # The training order's generator; the training loader keeps its state in checkpoints
        # (litlab.multistep.loader).
        self.generator = torch.Generator().manual_seed(seed)
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    def prepare_data(self) -> None:
        ensure_fashion_mnist(
            self.hparams.data_dir, self.hparams.system_dir, self.hparams.allow_download
        )

    def transform(self) -> transforms.Compose:
        # The classic pair (cheaper per sample than transforms.v2's, when measured).
        return transforms.Compose(
            [transforms.ToTensor(), transforms.Normalize((self.hparams.mean,), (self.hparams.std,))]
        )

    def _split(self, dataset: Dataset) -> list[Subset]:
        """55k/5k by a generator seeded from ``seed``: the same split on both paths."""
        split = torch.Generator().manual_seed(self.hparams.seed)
        sizes = [len(dataset) - self.hparams.val_size, self.hparams.val_size]  # type: ignore[arg-type]
        return random_split(dataset, sizes, generator=split)

    def _device(self) -> torch.device:
        """The trainer's device when there is a trainer (the GPU when training on one)."""
        trainer = self.trainer
        return trainer.strategy.root_device if trainer is not None else torch.device("cpu")

    def setup(self, stage: str | None = None) -> None:
        if self.hparams.preload:
            self._setup_tensors(stage)
            return
        root, transform = str(self.hparams.data_dir), self.transform()
        if stage in ("fit", "validate", None) and self.train_set is None:
            full = FashionMNIST(root, train=True, transform=transform)
            self.train_set, self.val_set = self._split(full)
        if stage in ("test", "predict", None) and self.test_set is None:
            self.test_set = FashionMNIST(root, train=False, transform=transform)

    def _setup_tensors(self, stage: str | None) -> None:
        """The same split and pixels as the Dataset path, as tensors on the device."""
        hp, raw, device = self.hparams, raw_folder(self.hparams.data_dir), self._device()
        if stage in ("fit", "validate", None) and self.train_set is None:
            train, val = train_val_tensors(raw, hp.mean, hp.std, hp.seed, hp.val_size)
            self.train_set, self.val_set = train.to(device), val.to(device)
        if stage in ("test", "predict", None) and self.test_set is None:
            self.test_set = test_tensors(raw, hp.mean, hp.std).to(device)

    def _loader(self, dataset: Dataset | None, batch_size: int, **kwargs: Any) -> DataLoader:
        workers = self.hparams.num_workers
        return DataLoader(
            dataset,  # type: ignore[arg-type]  # set up by now
            batch_size=batch_size,
            num_workers=workers,
            pin_memory=self.hparams.pin_memory,
            persistent_workers=workers > 0,
            **kwargs,
        )

    def _eval_loader(self, dataset: Dataset | None) -> DataLoader:
        size = self.hparams.eval_batch_size or self.hparams.batch_size
        if isinstance(dataset, TensorBatches):
            return batch_loader(dataset, size)
        return self._loader(dataset, size)

    def train_dataloader(self) -> DataLoader:
        """Batches shuffled (unless ``shuffle=False``) from the module's seeded generator."""
        hp = self.hparams
        if isinstance(self.train_set, TensorBatches):
            return batch_loader(self.train_set, hp.batch_size, hp.shuffle, self.generator)
        return self._loader(
            self.train_set, hp.batch_size, shuffle=hp.shuffle, generator=self.generator
        )

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader(self.val_set)

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader(self.test_set)

    def predict_dataloader(self) -> DataLoader:
        return self._eval_loader(self.test_set)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Augments training batches where they already are (on the GPU when training there).
        Each batch is an (images, labels) pair as this module's loaders yield it (the training
        loader's wrapper hands over a call's batches one by one: ``litlab.multistep``)."""
        trainer = self.trainer
        if self.augment is None or trainer is None or not trainer.training:
            return batch
        if isinstance(batch, torch.Tensor):  # the model summary's example input, not a batch
            return batch
        images, labels = batch
        return self.augment(images), labels
