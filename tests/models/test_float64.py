"""In float64 (``trainer.precision=64-true``), accumulating k batches of b is the same training
as batches of b*k over 30+ optimizer steps, within 1e-10 -- for the fashion MLP, the cubic and a
user's module with automatic optimization -- and several optimizer steps per call are the same
as one. In float32 such runs agree over a few steps only: Adam and ReLU amplify the 1e-7
rounding of a different summation order to 1e-4..1e-3 after 30 steps (GUIDE.md section 3), so
the long-horizon equality can only be proven in float64."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from litlab.run import build_trainer
from tests.conftest import compose_config
from tests.multistep.test_accumulation import relative_error, train

F64 = ["trainer.precision=64-true"]
# (overrides, b, k, epochs, optimizer steps in all). Fashion: 2000 training images in batches of
# 24 = 83 x 24 + 8, so each epoch's last window is 24, 24, 24, 8. Polynomial: 2000 points in
# batches of 30, windows of 120 -> 16 full windows and one of 80 (30, 30, 20).
CASES = {
    "polynomial": (["experiment=polynomial", "data.passes_per_epoch=1"], 30, 4, 2, 34),
    "fashion": (
        ["experiment=fashion", "data.val_size=58000", "model.net.hidden_sizes=[64]"],
        24,
        4,
        2,
        42,
    ),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def float64_runs(request):
    """The experiment trained three ways in float64: b*k x 1, b x k in calls of 8 steps,
    b x k one step a call."""
    overrides, b, k, epochs, steps = CASES[request.param]
    runs = {
        "big": train(F64 + overrides, b * k, 1, epochs, steps_per_call=1),
        "accumulated": train(F64 + overrides, b, k, epochs, steps_per_call=8),
        "single": train(F64 + overrides, b, k, epochs, steps_per_call=1),
    }
    return runs, steps


def test_float64_accumulation_equals_the_big_batch_over_30_steps(float64_runs):
    runs, steps = float64_runs
    (big, big_steps), (accumulated, accumulated_steps) = runs["big"], runs["accumulated"]
    assert big.dtype == accumulated.dtype == torch.float64  # 64-true trained in float64
    assert big_steps == accumulated_steps == steps >= 30
    assert relative_error(accumulated, big) < 1e-10


def test_float64_several_steps_per_call_equal_one_step_per_call(float64_runs):
    runs, _ = float64_runs
    (single, single_steps), (accumulated, accumulated_steps) = runs["single"], runs["accumulated"]
    assert single_steps == accumulated_steps
    assert relative_error(accumulated, single) < 1e-10


class UserData(L.LightningDataModule):
    """A user's data module: a TensorDataset in a shuffling DataLoader (float32 tensors)."""

    def __init__(self, batch_size: int) -> None:
        super().__init__()
        self.batch_size = batch_size
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(960, 8, generator=generator)
        self.dataset = TensorDataset(x, torch.sin(x.sum(1, keepdim=True)))

    def train_dataloader(self) -> DataLoader:
        generator = torch.Generator().manual_seed(1)
        return DataLoader(self.dataset, self.batch_size, shuffle=True, generator=generator)


class UserModule(L.LightningModule):
    """A user's module as Lightning's docs write one: automatic optimization, Adam, ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.log("train/loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-2)


def train_user_module(batch_size: int, k: int) -> tuple[torch.Tensor, int]:
    cfg = compose_config(["experiment=polynomial", "paths.output_dir=unused", *F64]
                         + [f"trainer.accumulate_grad_batches={k}"])  # fmt: skip
    L.seed_everything(3)
    model = UserModule()
    trainer = build_trainer(
        cfg, model, max_epochs=1, limit_val_batches=0, logger=False, callbacks=[],
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(model, datamodule=UserData(batch_size))
    return torch.cat([p.detach().flatten() for p in model.parameters()]), trainer.global_step


def test_float64_accumulation_of_a_users_automatic_optimization_module():
    # 960 samples: 30 steps of 8 x 4 (Lightning divides the loss by k, also on a short last
    # window -- Lightning issue 19987 -- so the windows here are full)
    big, big_steps = train_user_module(32, 1)
    accumulated, steps = train_user_module(8, 4)
    assert big.dtype == torch.float64
    assert steps == big_steps == 30
    assert relative_error(accumulated, big) < 1e-10


@pytest.mark.parametrize("experiment", ["fashion", "polynomial"])
def test_the_model_summary_runs_its_example_in_the_modules_dtype(experiment):
    """Lightning casts batches to float64 (the precision plugin's ``convert_input``) but not
    the example its model summary and TensorBoard's graph run: it follows the module's dtype."""
    from hydra.utils import instantiate
    from lightning.pytorch.utilities.model_summary import ModelSummary

    model = instantiate(compose_config([f"experiment={experiment}"]).model).double()
    assert model.example_input_array.dtype == torch.float64
    summary = ModelSummary(model, max_depth=1)  # runs the example through the module
    assert summary.in_sizes and summary.in_sizes[0] != "?"
