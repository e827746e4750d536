"""The rule for a run's hyperparameters (HPARAMS columns): knobs and overrides, no plumbing."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from litlab.hparams import run_hparams
from tests.conftest import compose_config


def test_knobs_of_a_recipe_with_a_changed_optimizer():
    cfg = compose_config(
        [
            "experiment=fashion_90",
            "model.optimizer._target_=torch.optim.SGD",  # logged as the class, by its name
            "+model.optimizer.momentum=0.9",
            "~callbacks.progress_bar",  # a deletion sets nothing
            "paths.output_dir=/tmp/run",  # plumbing
            "hydra/launcher=basic",
        ]
    )
    assert run_hparams(cfg) == {
        "experiment": "fashion_90",
        "model": "fashion",
        "trainer": "cpu",
        "seed": 42,
        "model.optimizer": "SGD",
        "model.optimizer.lr": pytest.approx(2e-3),
        "model.optimizer.weight_decay": pytest.approx(1e-4),
        "model.optimizer.momentum": pytest.approx(0.9),
        "model.scheduler": "CosineAnnealingLR",
        "model.net": "MLP",
        "model.net.hidden_sizes": "[1024, 512]",
        "model.net.dropout": pytest.approx(0.3),
        "model.compile": False,
        "model.label_smoothing": pytest.approx(0.1),
        "data.batch_size": 128,
        "trainer.accumulate_grad_batches": 1,
        "trainer.max_epochs": 100,
    }


def test_overrides_are_hparams_with_their_config_values_and_group_choices():
    cfg = compose_config(
        [
            "experiment=polynomial",
            "model=polynomial_manual",
            "logger=csv",
            "data.num_points=500",
            "trainer.gradient_clip_val=0.5",
            "ckpt_path=/somewhere/last.ckpt",  # a path, not a knob
        ]
    )
    hparams = run_hparams(cfg)
    assert hparams["model"] == "polynomial_manual" and hparams["logger"] == "csv"
    assert hparams["model.optimizer"] == "WrittenOutSGD"  # the hand-written update, by class
    assert hparams["model.optimizer.lr"] == pytest.approx(1e-3)
    assert hparams["data.num_points"] == 500  # typed, as in the config
    assert hparams["trainer.gradient_clip_val"] == pytest.approx(0.5)
    assert "ckpt_path" not in hparams


def test_values_are_numbers_strings_or_booleans_never_none():
    cfg = compose_config(["experiment=fashion", "seed=null"])
    OmegaConf.update(cfg, "seed", 7)  # what seed_run does before anything is logged
    hparams = run_hparams(cfg)
    assert hparams["seed"] == 7
    assert "model.scheduler" not in hparams  # null: no column entry, not the string 'None'
    assert "trainer.gradient_clip_val" not in hparams
    assert all(isinstance(v, (bool, int, float, str)) for v in hparams.values())
    assert not [key for key in hparams if "_target_" in key or key.startswith(("paths", "hydra"))]
