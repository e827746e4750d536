"""One spelling of a metric's direction (litlab.metric_mode): ``optimized_metric`` and
``optimized_metric_mode`` drive the best checkpoint and the Optuna search by interpolation."""

import pytest
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint

from litlab.errors import ConfigValueError
from litlab.metric_mode import optuna_direction
from tests.conftest import compose_config


@pytest.mark.parametrize(
    ("overrides", "monitor", "mode"),
    [
        (["experiment=fashion"], "val/acc", "max"),
        (["experiment=polynomial"], "train/mse_ratio", "min"),
        (["experiment=fashion", "optimized_metric=val/loss", "optimized_metric_mode=min"],
         "val/loss", "min"),
    ],
)  # fmt: skip
def test_the_best_checkpoint_follows_the_optimized_metric_and_its_mode(overrides, monitor, mode):
    checkpoint = instantiate(compose_config(overrides).callbacks.model_checkpoint)
    assert isinstance(checkpoint, ModelCheckpoint)
    assert (checkpoint.monitor, checkpoint.mode) == (monitor, mode)


def test_the_search_direction_is_the_metric_mode_in_optunas_words():
    search = ["hparams_search=fashion_optuna"]
    assert compose_config(search).hydra.sweeper.direction == "maximize"
    lower = compose_config([*search, "optimized_metric=val/loss", "optimized_metric_mode=min"])
    assert lower.hydra.sweeper.direction == "minimize"
    assert lower.callbacks.model_checkpoint.mode == "min"


def test_a_config_that_sets_the_direction_itself_keeps_it():
    old = compose_config(["hparams_search=fashion_optuna", "hydra.sweeper.direction=minimize"])
    assert old.hydra.sweeper.direction == "minimize"
    assert optuna_direction("maximize") == "maximize"


def test_a_mode_other_than_min_or_max_names_its_key():
    with pytest.raises(ConfigValueError, match="optimized_metric_mode='up'"):
        optuna_direction("up")
