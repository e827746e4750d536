"""Exact resume with DataLoader workers: a user's data module (a map-style Dataset whose
``__getitem__`` draws a random augmentation from torch's RNG, a ``DataLoader`` with
``shuffle=True`` and ``num_workers=1``) under a plain module and under a ``MultiStepModule``;
SIGTERM mid-epoch, then resume: the weights and the step count of a run straight through, bit
for bit. The worker's random stream is what makes this hard: it depends on the seed the loader
draws when its iterator starts and on every item the worker produced before."""

from __future__ import annotations

import random
import runpy
import sys
import warnings
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from litlab import run as run_module
from litlab.multistep.loader import TrainingLoader
from tests.conftest import REPO
from tests.multistep.test_fused_steps import SigtermAfterCall

CODE = '''
"""Noisy waves: each item a sine with a random shift drawn in the worker (torch's RNG)."""

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from litlab.multistep import MultiStepModule


class Waves(Dataset):
    def __init__(self, size: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.freq = torch.rand(size, generator=g) * 3
        self.t = torch.linspace(0, 6.28, 16)

    def __len__(self) -> int:
        return len(self.freq)

    def __getitem__(self, i: int):
        shift = torch.rand(())  # the augmentation: drawn from the worker's torch RNG
        x = torch.sin(self.freq[i] * self.t + shift) + 0.1 * torch.randn(16)
        return x, self.freq[i].unsqueeze(0)


class WavesDataModule(L.LightningDataModule):
    def __init__(self, size: int = 96, batch_size: int = 8, num_workers: int = 1,
                 persistent_workers: bool = False) -> None:
        super().__init__()
        self.save_hyperparameters()

    def setup(self, stage: str) -> None:
        self.train_set, self.val_set = Waves(self.hparams.size), Waves(16)

    def train_dataloader(self) -> DataLoader:
        h = self.hparams
        return DataLoader(self.train_set, h.batch_size, shuffle=True, num_workers=h.num_workers,
                          persistent_workers=h.persistent_workers and h.num_workers > 0)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=16)


def network() -> nn.Module:
    return nn.Sequential(nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 1))


class Plain(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = network()

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self.net(x), y)
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val/loss", F.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


class Fused(MultiStepModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = network()

    def batch_loss(self, batch, stage):
        x, y = batch
        loss = F.mse_loss(self.net(x), y)
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, batch_size=len(y))
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val/loss", F.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)
'''

EXPERIMENT = """# @package _global_
defaults:
  - override /data: null
  - override /model: null
  - override /callbacks: default
data:
  _target_: waves.WavesDataModule
model:
  _target_: waves.Plain
name: waves
trainer:
  max_epochs: 2
test: false
callbacks:
  model_checkpoint:
    monitor: val/loss
    mode: min
"""

# 96 waves in batches of 8: 12 batches an epoch; 3 a call for the fused module (4 calls)
MODULES = {"plain": ["model._target_=waves.Plain"],
           "fused": ["model._target_=waves.Fused", "steps_per_call=3"]}  # fmt: skip


@pytest.fixture(scope="module")
def conf(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("waves")
    (root / "waves.py").write_text(CODE)
    (root / "conf" / "experiment").mkdir(parents=True)
    (root / "conf" / "experiment" / "waves.yaml").write_text(EXPERIMENT)
    sys.path.insert(0, str(root))
    yield root / "conf"
    sys.path.remove(str(root))
    sys.modules.pop("waves", None)


def train(conf: Path, folder: Path, *overrides: str) -> int:
    args = ["--config-dir", str(conf), "experiment=waves", "logger=none",
            f"hydra.run.dir={folder}", f"paths.log_dir={folder.parent}", *overrides]  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["train.py", *args])
        patch.chdir(REPO)
        try:
            runpy.run_path(str(REPO / "train.py"), run_name="__main__")
        except SystemExit as exit_info:
            return exit_info.code or 0
    return 0


def last(folder: Path, name: str = "last.ckpt") -> dict:
    return torch.load(folder / "checkpoints" / name, weights_only=True)


@pytest.fixture(scope="module")
def straight(conf, tmp_path_factory) -> dict[str, dict]:
    """Each module's run straight through: its last.ckpt."""
    runs = {}
    for module, overrides in MODULES.items():
        folder = tmp_path_factory.mktemp(f"straight_{module}")
        assert train(conf, folder, *overrides) == 0
        runs[module] = last(folder)
    return runs


# after call 5 of the plain module's 12 an epoch; after call 2 (first epoch) or 6 (second epoch)
# of the fused module's 4
CASES = [("plain", 5), ("fused", 2), ("fused", 6)]


@pytest.mark.parametrize(("module", "call"), CASES, ids=[f"{m}-{c}" for m, c in CASES])
def test_a_sigterm_mid_epoch_with_a_worker_resumes_bit_for_bit(
    conf, straight, tmp_path, monkeypatch, module, call
):
    overrides = MODULES[module]
    build = run_module.instantiate_group
    monkeypatch.setattr(run_module, "instantiate_group", lambda cfg, group: build(cfg, group) + (
        [SigtermAfterCall(call)] if group == "callbacks" else []))  # fmt: skip
    assert train(conf, tmp_path / "stopped", *overrides) == 143
    monkeypatch.setattr(run_module, "instantiate_group", build)
    saved = tmp_path / "stopped" / "checkpoints" / "interrupted.ckpt"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert train(conf, tmp_path / "resumed", *overrides, f"ckpt_path={saved}") == 0
    resumed = last(tmp_path / "resumed")
    assert resumed["global_step"] == straight[module]["global_step"] == 24
    for name, value in straight[module]["state_dict"].items():
        diff = (resumed["state_dict"][name] - value).abs().max()
        assert torch.equal(resumed["state_dict"][name], value), f"{name}: {diff}"
    assert not [w for w in caught if "resumable" in str(w.message) or "exactly" in str(w.message)]


class Shifted(Dataset):
    """Eight numbers, each with a random shift drawn where it is fetched."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.tensor([float(i)]) + torch.rand(1)


class PythonShuffle(Sampler[int]):
    """A sampler shuffling with python's ``random``: an order litlab cannot draw again."""

    def __len__(self) -> int:
        return 8

    def __iter__(self):
        order = list(range(8))
        random.shuffle(order)
        return iter(order)


def resumed_after(loader: DataLoader, make: callable, calls: int) -> TrainingLoader:
    first = TrainingLoader(loader, grouped=False)
    items = iter(first)
    for _ in range(calls):
        next(items)
    state = first.state_dict()
    again = TrainingLoader(make(), grouped=False)
    again.load_state_dict(state)
    return again


def test_the_loader_alone_resumes_its_workers_streams():
    """Without a trainer: three batches taken, the state loaded into a new loader: the other
    five are those an uninterrupted epoch yields, shifts included (one worker, no generator)."""
    torch.manual_seed(0)

    def make() -> DataLoader:
        return DataLoader(Shifted(), batch_size=1, shuffle=True, num_workers=1)

    whole = list(TrainingLoader(make(), grouped=False))
    torch.manual_seed(0)
    again = resumed_after(make(), make, 3)
    assert all(torch.equal(a, b) for a, b in zip(list(again), whole[3:], strict=True))


def test_a_sampler_that_draws_another_order_is_named_in_one_warning():
    def make() -> DataLoader:
        return DataLoader(Shifted(), batch_size=2, sampler=PythonShuffle())

    random.seed(0)
    again = resumed_after(make(), make, 1)
    with pytest.warns(UserWarning) as caught:
        list(again)
    messages = [str(w.message) for w in caught if "another order" in str(w.message)]
    assert len(messages) == 1 and "PythonShuffle" in messages[0]


def test_workers_kept_across_epochs_are_named_in_one_warning():
    def make() -> DataLoader:
        return DataLoader(Shifted(), batch_size=2, num_workers=1, persistent_workers=True)

    loader = TrainingLoader(make())
    with pytest.warns(UserWarning, match="persistent_workers=True") as caught:
        loader.load_state_dict(TrainingLoader(make()).state_dict())
    assert len([w for w in caught if "persistent" in str(w.message)]) == 1
