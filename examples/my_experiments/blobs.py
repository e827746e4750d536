"""Points in the plane around three centres, and a small network that classifies them.

A user's own experiment, written as for Lightning alone: litlab's README "Add your own
experiment" walks through it, and tests/test_own_experiment.py runs it as it stands.
"""

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset, random_split

from litlab.multistep import MultiStepModule


class Blobs(Dataset):
    """``size`` points, each near one of three centres; ``blobs[i]`` is (point, label)."""

    def __init__(self, size: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        centres = 2 * torch.randn(3, 2, generator=g)
        self.labels = torch.randint(3, (size,), generator=g)
        self.points = centres[self.labels] + torch.randn(size, 2, generator=g)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.points[i], self.labels[i]


class BlobsDataModule(L.LightningDataModule):
    """70% training, 15% validation, 15% test points; ``shuffle=False`` keeps the training order
    fixed (``debug=overfit`` sets it), ``num_workers`` loads in that many processes."""

    def __init__(
        self,
        size: int = 2000,
        batch_size: int = 32,
        seed: int = 0,
        shuffle: bool = True,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()

    def setup(self, stage: str) -> None:
        blobs = Blobs(self.hparams.size, self.hparams.seed)
        split = torch.Generator().manual_seed(self.hparams.seed)
        self.train_set, self.val_set, self.test_set = random_split(
            blobs, [0.7, 0.15, 0.15], generator=split
        )

    def train_dataloader(self) -> DataLoader:
        order = torch.Generator().manual_seed(self.hparams.seed)  # the order: seed alone
        return DataLoader(
            self.train_set,
            self.hparams.batch_size,
            shuffle=self.hparams.shuffle,
            generator=order,
            num_workers=self.hparams.num_workers,
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=200)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_set, batch_size=200)


def network(hidden: int) -> nn.Module:
    return nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, 3))


class BlobsClassifier(L.LightningModule):
    """Any LightningModule: automatic optimization, one optimizer step per training_step."""

    def __init__(self, hidden: int = 32, lr: float = 0.1) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = network(hidden)
        self.example_input_array = torch.zeros(1, 2)  # TensorBoard's graph

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self.net(x), y)
        self.log("train/loss", loss)
        return loss

    def evaluate(self, batch, stage: str) -> None:
        x, y = batch
        logits = self.net(x)
        self.log(f"{stage}/loss", F.cross_entropy(logits, y))
        self.log(f"{stage}/acc", (logits.argmax(-1) == y).float().mean())

    def validation_step(self, batch, batch_idx):
        self.evaluate(batch, "val")

    def test_step(self, batch, batch_idx):
        self.evaluate(batch, "test")

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


class FusedBlobsClassifier(MultiStepModule):
    """The same, with litlab's loop: it says what a batch's loss is, and runs
    steps_per_call optimizer steps per training_step (accumulation and clipping included)."""

    def __init__(self, hidden: int = 32, lr: float = 0.1) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = network(hidden)
        self.example_input_array = torch.zeros(1, 2)  # TensorBoard's graph

    def forward(self, x):
        return self.net(x)

    def batch_loss(self, batch, stage):
        x, y = batch
        loss = F.cross_entropy(self.net(x), y)
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, batch_size=len(y))
        return loss

    def evaluate(self, batch, stage: str) -> None:
        x, y = batch
        logits = self.net(x)
        self.log(f"{stage}/loss", F.cross_entropy(logits, y))
        self.log(f"{stage}/acc", (logits.argmax(-1) == y).float().mean())

    def validation_step(self, batch, batch_idx):
        self.evaluate(batch, "val")

    def test_step(self, batch, batch_idx):
        self.evaluate(batch, "test")

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)
