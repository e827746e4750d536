"""Exact resume with DataLoader workers: a user's data module (a map-style Dataset whose
``__getitem__`` draws a random augmentation from torch's RNG, a ``DataLoader`` with
``shuffle=True`` and ``num_workers=1``) under a plain module and under a ``FusedStepsModule``;
SIGTERM mid-epoch, then resume: the weights and the step count of a run straight through, bit
for bit. The worker's random stream is what makes this hard: it depends on the seed the loader
draws when its iterator starts and on every item the worker produced before."""

from __future__ import annotations

import runpy
import sys
import warnings
from pathlib import Path

import pytest
import torch

from litlab import run as run_module

from .conftest import REPO
from .test_fused_steps import SigtermAfterCall

CODE = '''
"""Noisy waves: each item a sine with a random shift drawn in the worker (torch's RNG)."""

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from litlab.models.fused_steps import FusedStepsModule


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


class Fused(FusedStepsModule):
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


@pytest.mark.parametrize("module", list(MODULES))
@pytest.mark.parametrize("call", [2, 6])
def test_a_sigterm_mid_epoch_with_a_worker_resumes_bit_for_bit(
    conf, tmp_path, monkeypatch, module, call
):
    overrides = MODULES[module]
    assert train(conf, tmp_path / "straight", *overrides) == 0
    build = run_module.instantiate_group
    monkeypatch.setattr(run_module, "instantiate_group", lambda cfg, group: build(cfg, group) + (
        [SigtermAfterCall(call)] if group == "callbacks" else []))  # fmt: skip
    assert train(conf, tmp_path / "stopped", *overrides) == 143
    monkeypatch.setattr(run_module, "instantiate_group", build)
    saved = tmp_path / "stopped" / "checkpoints" / "interrupted.ckpt"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert train(conf, tmp_path / "resumed", *overrides, f"ckpt_path={saved}") == 0
    straight, resumed = last(tmp_path / "straight"), last(tmp_path / "resumed")
    assert resumed["global_step"] == straight["global_step"] == 24
    for name, value in straight["state_dict"].items():
        diff = (resumed["state_dict"][name] - value).abs().max()
        assert torch.equal(resumed["state_dict"][name], value), f"{name}: {diff}"
    assert not [w for w in caught if "resumable" in str(w.message) or "exactly" in str(w.message)]
