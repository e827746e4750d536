"""Fashion-MNIST: 55k/5k train/validation split of the official 60k, and the official 10k test."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, random_split
from torchvision import transforms
from torchvision.datasets import FashionMNIST

from litlab.data.fashion_files import DEBIAN_DIR, ensure_fashion_mnist
from litlab.data.spawn_safe import SpawnSafeGenerator

CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
TRAIN_SIZE = 60_000


class FashionMNISTDataModule(SpawnSafeGenerator, L.LightningDataModule):
    """Torchvision's ``FashionMNIST`` Dataset with per-sample transforms, batched by DataLoader."""

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
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        # Its state advances every epoch and is saved in checkpoints (see state_dict).
        self.generator = torch.Generator().manual_seed(seed)
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    def prepare_data(self) -> None:
        ensure_fashion_mnist(
            self.hparams.data_dir, self.hparams.system_dir, self.hparams.allow_download
        )

    def transform(self) -> transforms.Compose:
        # The classic pair; measured here, it is ~1.7x faster per sample than transforms.v2's.
        return transforms.Compose(
            [transforms.ToTensor(), transforms.Normalize((self.hparams.mean,), (self.hparams.std,))]
        )

    def setup(self, stage: str | None = None) -> None:
        root, transform = str(self.hparams.data_dir), self.transform()
        if stage in ("fit", "validate", None) and self.train_set is None:
            full = FashionMNIST(root, train=True, transform=transform)
            split = torch.Generator().manual_seed(self.hparams.seed)
            sizes = [len(full) - self.hparams.val_size, self.hparams.val_size]
            self.train_set, self.val_set = random_split(full, sizes, generator=split)
        if stage in ("test", "predict", None) and self.test_set is None:
            self.test_set = FashionMNIST(root, train=False, transform=transform)

    def _loader(self, dataset: Dataset | None, shuffle: bool = False) -> DataLoader:
        workers = self.hparams.num_workers
        return DataLoader(
            dataset,
            batch_size=self.hparams.batch_size,
            shuffle=shuffle,
            generator=self.generator if shuffle else None,
            num_workers=workers,
            pin_memory=self.hparams.pin_memory,
            persistent_workers=workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.test_set)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state_dict: dict[str, torch.Tensor]) -> None:
        self.generator.set_state(state_dict["generator"])
