"""Every value is checked against the type its code takes, before anything is built: one
ConfigValueError naming key and value (litlab/config_types.py, litlab/validation.py)."""

from __future__ import annotations

import pytest

from litlab.errors import ConfigValueError
from litlab.validation import validate

# (overrides, the key named, the words of the message)
REFUSED = [
    (["trainer.deterministic=no"], "trainer.deterministic", "'no' is invalid: must be true"),
    (["train=yes"], "train", "train='yes' is invalid: must be true or false"),
    (["test=1"], "test", "test=1 is invalid: must be true or false"),
    (["data.shuffle=off"], "data.shuffle", "must be true or false"),
    (["model.optimizer.lr=nan"], "model.optimizer.lr", "lr=nan is invalid: must be a finite"),
    (["model.optimizer.lr=inf"], "model.optimizer.lr", "lr=inf is invalid: must be a finite"),
    (["trainer.limit_train_batches=nan"], "trainer.limit_train_batches", "=nan is invalid"),
    (["model.optimizer._target_=torch.optim.Adamm"], "model.optimizer._target_",
     "torch.optim has no 'Adamm' (did you mean torch.optim.Adam?)"),
    (["model.optimizer._target_=torhc.optim.Adam"], "model.optimizer._target_",
     "no module named 'torhc'"),
    (["trainer.max_epochs=null"], "trainer.max_epochs", "Lightning's default of 1000 epochs"),
    (["+trainer.max_epoch=3"], "trainer.max_epoch", "Trainer takes no argument 'max_epoch'"),
    (["+model.net.hidden_size=[64]"], "model.net.hidden_size",
     "MLP takes no argument 'hidden_size' (did you mean 'hidden_sizes'?)"),
    (["+data.batchsize=8"], "data.batchsize", "takes no argument 'batchsize'"),
    (["model.optimizer=null"], "model.optimizer", "None is invalid: must be a config with"),
    (["model.net=null"], "model.net", "model.net=None is invalid: must be a Module"),
    (["trainer.precision=16-true-mixed"], "trainer.precision", "must be one of 64, 32, 16,"),
    (["callbacks.lr_monitor.logging_interval=weekly"], "callbacks.lr_monitor.logging_interval",
     "must be one of 'step', 'epoch' or null"),
    (["data.batch_size=1.5"], "data.batch_size", "must be a whole number"),
    (["seed=abc"], "seed", "seed='abc' is invalid: must be a whole number or null"),
    (["steps_per_call=null"], "steps_per_call", "steps_per_call=None is invalid"),
    (["steps_per_call=0"], "steps_per_call", "must be a whole number >= 1"),
    (["trainer.gradient_clip_val=-1"], "trainer.gradient_clip_val", "must be a number >= 0"),
    (["trainer.gradient_clip_val=1", "trainer.gradient_clip_algorithm=l2"],
     "trainer.gradient_clip_algorithm", "must be norm or value"),
    (["trainer.check_val_every_n_epoch=0"], "trainer.check_val_every_n_epoch", ">= 1"),
    (["model.label_smoothing=1.5"], "model.label_smoothing", "must be a number in [0, 1]"),
    (["model.net.hidden_sizes=3"], "model.net.hidden_sizes", "must be a list of whole numbers"),
    (["callbacks.model_checkpoint.monitor=???"], "callbacks.model_checkpoint.monitor",
     "must be set"),
    (["experiment=polynomial", "data.passes_per_epoch=0"], "data.passes_per_epoch", ">= 1"),
    (["experiment=polynomial", "model.optimizer=null"], "model.optimizer", "must be a config"),
    (["experiment=fashion_cnn", "hparams_search=fashion_optuna"], "model.net.hidden_sizes",
     "CNN takes no argument 'hidden_sizes'"),
]  # fmt: skip


@pytest.mark.parametrize("overrides, key, words", REFUSED)
def test_a_value_its_code_cannot_take_is_refused_naming_key_and_value(
    make_cfg, overrides, key, words
):
    with pytest.raises(ConfigValueError) as error:
        validate(make_cfg(*overrides))
    assert error.value.key == key
    assert words in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "overrides",
    [
        ["trainer.max_epochs=null", "trainer.max_steps=10"],  # Lightning's "no epoch limit"
        ["trainer.precision=64-true"],
        ["trainer.precision=64"],
        ["trainer.deterministic=warn"],
        ["trainer.limit_train_batches=0.5"],
        ["+trainer.max_time=00:00:01:00"],
        ["model.optimizer._target_=torch.optim.SGD", "~model.optimizer.fused"],
        ["experiment=fashion_90"],
        ["experiment=polynomial", "model=polynomial_manual"],
        ["hparams_search=fashion_optuna"],  # hidden_size is read by an interpolation
    ],
)
def test_values_their_code_takes_pass(make_cfg, overrides, capsys):
    validate(make_cfg(*overrides))
    assert "warning" not in capsys.readouterr().err


def test_a_top_level_key_nothing_reads_is_warned_about_by_name(make_cfg, capsys):
    validate(make_cfg("+learning_rate=0.1"))
    err = capsys.readouterr().err
    assert err.strip() == (
        "warning: learning_rate is read by nothing in the config (no _target_ takes it, and "
        "no interpolation uses it)"
    )
