"""Training through run(cfg): the experiments reach their targets, manual SGD equals torch's."""

from __future__ import annotations

import json

import lightning as L
import pytest
import torch
from hydra.utils import instantiate

from litlab.run import run
from tests.conftest import requires_cuda


def test_polynomial_default_converges_to_least_squares(make_cfg, tmp_path):
    cfg = make_cfg("experiment=polynomial", "logger=none")
    ratio = run(cfg)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert ratio == metrics["train/mse_ratio"]
    assert 1.0 <= ratio <= 1.02


def test_fashion_learns_on_the_real_data(make_cfg, tmp_path):
    cfg = make_cfg(
        "experiment=fashion",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=20",  # calls of 8 steps: 160 of the epoch's 860 (0.81 here)
        "logger=none",
    )
    val_acc = run(cfg)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert val_acc == metrics["val/acc"]
    assert metrics["test/acc"] >= 0.75


def fit_polynomial(model_cfg: str, make_cfg, epochs: int) -> torch.Tensor:
    # one pass per epoch: `epochs` passes of 10 steps, not the experiment's 100 passes an epoch
    cfg = make_cfg("experiment=polynomial", f"model={model_cfg}", "data.passes_per_epoch=1")
    L.seed_everything(3)
    model = instantiate(cfg.model)
    trainer = L.Trainer(
        max_epochs=epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(model, datamodule=instantiate(cfg.data))
    return model.net.coefficients


def test_manual_update_lands_on_the_same_parameters_as_torch_sgd(make_cfg):
    manual = fit_polynomial("polynomial_manual", make_cfg, epochs=25)
    automatic = fit_polynomial("polynomial", make_cfg, epochs=25)
    L.seed_everything(3)
    initial = instantiate(make_cfg("experiment=polynomial").model).net.coefficients
    assert not torch.allclose(manual, initial, atol=1e-3)  # it trained
    torch.testing.assert_close(manual, automatic, rtol=1e-6, atol=1e-7)


@pytest.mark.gpu
@requires_cuda
def test_polynomial_trains_on_the_gpu_as_on_the_cpu(make_cfg, tmp_path):
    """The experiment's 8000 steps reach the least-squares fit within 2 % on the GPU, and land
    where the same run on the CPU lands (float rounding apart)."""
    coefficients = {}
    for accelerator in ("gpu", "cpu"):
        cfg = make_cfg(
            "experiment=polynomial",
            f"trainer={accelerator}",
            "logger=none",
            f"paths.output_dir={tmp_path / accelerator}",
        )
        run(cfg)
        metrics = json.loads((tmp_path / accelerator / "metrics.json").read_text())
        assert metrics["train/mse_ratio"] < 1.02, accelerator
        checkpoint = tmp_path / accelerator / "checkpoints" / "last.ckpt"
        last = torch.load(checkpoint, map_location="cpu", weights_only=True)
        coefficients[accelerator] = torch.stack([last["state_dict"][f"net.{c}"] for c in "abcd"])
    torch.testing.assert_close(coefficients["gpu"], coefficients["cpu"], rtol=1e-3, atol=1e-4)


def test_fashion_90_recipe_trains_with_the_default_logger(make_cfg, tmp_path):
    """The recipe's batch augmentation with TensorBoard's model graph and summary, which pass an
    example input (not a batch) through the data module's batch hook."""
    cfg = make_cfg(
        "experiment=fashion_90",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=5",
        "trainer.limit_val_batches=2",
        "trainer.limit_test_batches=2",
    )
    run(cfg)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert {"train/loss", "val/acc", "test/acc"} <= set(metrics)
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))


def test_fashion_fast_recipe_records_its_training_time(make_cfg, tmp_path):
    cfg = make_cfg(
        "experiment=fashion_fast",
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=3",
        "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1",
        "logger=none",
    )
    run(cfg)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert cfg.data.batch_size == 512
    assert metrics["time/train_s"] > 0 and "test/acc" in metrics
