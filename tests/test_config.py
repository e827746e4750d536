"""Every experiment x trainer combination composes and builds, as train.py would build it."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from hydra.utils import instantiate

from litlab.errors import UserError
from litlab.run import build_trainer, instantiate_group
from litlab.validation import validate
from tests.conftest import CONF_DIR

EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
TRAINERS = sorted(p.stem for p in (CONF_DIR / "trainer").glob("*.yaml"))


def test_the_groups_the_readme_promises_exist():
    assert {"fashion", "polynomial"} <= set(EXPERIMENTS)
    assert {"default", "cpu", "gpu", "auto"} <= set(TRAINERS)
    loggers = {p.stem for p in (CONF_DIR / "logger").glob("*.yaml")}
    assert {"tensorboard", "csv", "none"} <= loggers


@pytest.mark.parametrize("trainer", TRAINERS)
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_composes_and_instantiates(make_cfg, experiment, trainer):
    cfg = make_cfg(f"experiment={experiment}", f"trainer={trainer}")
    assert cfg.name == experiment
    assert isinstance(instantiate(cfg.model), L.LightningModule)
    assert isinstance(instantiate(cfg.data), L.LightningDataModule)
    callbacks = instantiate_group(cfg, "callbacks")
    assert callbacks and all(isinstance(c, L.Callback) for c in callbacks)
    if cfg.trainer.accelerator == "gpu" and not torch.cuda.is_available():
        with pytest.raises(UserError, match="trainer=cpu"):
            validate(cfg)
        return
    assert isinstance(build_trainer(cfg, instantiate(cfg.model), callbacks=callbacks), L.Trainer)


def test_fashion_is_the_default_experiment_and_cpu_the_default_trainer(make_cfg):
    cfg = make_cfg()
    assert cfg.name == "fashion"
    assert cfg.trainer.accelerator == "cpu"
    assert cfg.model.net._target_.endswith("MLP")


@pytest.mark.parametrize(
    "override",
    [
        "seed=7",
        "trainer.deterministic=false",
        "trainer.accumulate_grad_batches=4",
        "trainer.accelerator=auto",
    ],
)
def test_fundamental_knobs_override_without_plus(make_cfg, override):
    key, value = override.split("=")
    cfg = make_cfg(override)
    node = cfg
    for part in key.split("."):
        node = node[part]
    assert str(node).lower() == value


@pytest.mark.parametrize(
    "logger, expected", [("tensorboard", "TensorBoardLogger"), ("csv", "CSVLogger"), ("none", None)]
)
def test_logger_choices(make_cfg, logger, expected):
    loggers = instantiate_group(make_cfg(f"logger={logger}"), "logger")
    assert [type(lg).__name__ for lg in loggers] == ([expected] if expected else [])
