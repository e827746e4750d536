"""Points of sin(x) on [-pi, pi]: the polynomial experiment's data."""

from __future__ import annotations

import math

import lightning as L
import torch
from lightning.fabric.utilities.data import AttributeDict
from torch.utils.data import DataLoader

from litlab.data.spawn_safe import SpawnSafeGenerator
from litlab.data.tensor_batches import TensorBatches, batch_loader


class SineDataset(TensorBatches):
    """``num_points`` evenly spaced x with y = sin(x). ``dataset[i]`` is one (x, y) pair, and
    ``dataset[index_tensor]`` a whole batch of them (see ``tensor_batches``)."""

    def __init__(
        self, num_points: int = 2000, low: float = -math.pi, high: float = math.pi
    ) -> None:
        x = torch.linspace(low, high, num_points)
        super().__init__(x, torch.sin(x))

    @property
    def x(self) -> torch.Tensor:
        return self.tensors[0]

    @property
    def y(self) -> torch.Tensor:
        return self.tensors[1]


class SineDataModule(SpawnSafeGenerator, L.LightningDataModule):
    """Shuffles with its own seeded generator, so the batch order depends on ``seed`` alone
    (the training loader keeps its state in checkpoints: ``litlab.multistep.loader``).

    ``passes_per_epoch`` makes one Lightning epoch several passes over the points (reshuffled
    each pass): Lightning's fixed cost per epoch dwarfs 10 steps of a cubic, so long epochs make
    the same number of steps much cheaper.
    """

    hparams: AttributeDict  # save_hyperparameters() makes it one; Lightning types it a Mapping

    def __init__(
        self,
        num_points: int = 2000,
        batch_size: int = 200,
        shuffle: bool = True,
        seed: int = 42,
        passes_per_epoch: int = 1,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.dataset = SineDataset(num_points)
        self.generator = torch.Generator().manual_seed(seed)

    def train_dataloader(self) -> DataLoader:
        hp = self.hparams
        return batch_loader(
            self.dataset, hp.batch_size, hp.shuffle, self.generator, hp.passes_per_epoch
        )

    def test_dataloader(self) -> DataLoader:
        return batch_loader(self.dataset, batch_size=len(self.dataset))
