"""Points of sin(x) on [-pi, pi]: the polynomial experiment's data."""

from __future__ import annotations

import math

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from litlab.data.spawn_safe import SpawnSafeGenerator


class SineDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """``num_points`` evenly spaced x with y = sin(x); the Dataset protocol in its smallest form."""

    def __init__(
        self, num_points: int = 2000, low: float = -math.pi, high: float = math.pi
    ) -> None:
        self.x = torch.linspace(low, high, num_points)
        self.y = torch.sin(self.x)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[index], self.y[index]


class SineDataModule(SpawnSafeGenerator, L.LightningDataModule):
    """Shuffles with its own seeded generator, so the batch order depends on ``seed`` alone."""

    def __init__(
        self,
        num_points: int = 2000,
        batch_size: int = 200,
        shuffle: bool = True,
        seed: int = 42,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.dataset = SineDataset(num_points)
        self.generator = torch.Generator().manual_seed(seed)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            self.dataset,
            batch_size=self.hparams.batch_size,
            shuffle=self.hparams.shuffle,
            generator=self.generator,
            num_workers=self.hparams.num_workers,
        )

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.dataset, batch_size=len(self.dataset))

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state_dict: dict[str, torch.Tensor]) -> None:
        self.generator.set_state(state_dict["generator"])
