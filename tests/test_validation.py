"""Bad config values stop the run before any work, with one message naming key and value."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from hydra.errors import HydraException

from litlab.errors import ConfigValueError
from litlab.run import build
from litlab.validation import validate
from tests.conftest import CONF_DIR, compose_config, train_main

BAD_VALUES = [
    ("experiment=fashion", "model.optimizer.lr=0", "model.optimizer.lr=0 is invalid"),
    ("experiment=polynomial", "model.optimizer.lr=-0.1", "model.optimizer.lr=-0.1 is invalid"),
    ("model=polynomial_manual", "model.optimizer.lr=0", "model.optimizer.lr=0 is invalid"),
    ("experiment=fashion", "data.batch_size=0", "data.batch_size=0 is invalid"),
    ("experiment=polynomial", "data.batch_size=-5", "data.batch_size=-5 is invalid"),
    ("experiment=fashion", "trainer.max_epochs=0", "trainer.max_epochs=0 is invalid"),
    ("experiment=fashion", "trainer.accumulate_grad_batches=0", "accumulate_grad_batches=0 is"),
    ("experiment=fashion", "model.net.hidden_sizes=[512,0]", "hidden_sizes=[512, 0] is invalid"),
    ("experiment=fashion", "model.net.dropout=1.0", "model.net.dropout=1.0 is invalid"),
    ("experiment=fashion", "model.net.dropout=-0.1", "model.net.dropout=-0.1 is invalid"),
    ("experiment=fashion", "data.batch_size=abc", "data.batch_size='abc' is invalid"),
    ("experiment=fashion", "optimized_metric_mode=maxx", "optimized_metric_mode='maxx' is"),
    # a _partial_ is called once training starts: its arguments are checked before that
    ("experiment=polynomial", "+model.optimizer.betas=[0.9,0.99]", "takes no argument 'betas'"),
]
# Limits that belong to one class, checked by it when the run builds it (still before any work)
BAD_WHEN_BUILT = [
    ("data.val_size=0", "data.val_size=0 is invalid"),
    ("data.val_size=60000", "data.val_size=60000 is invalid"),
    ("data.num_workers=2", "data.num_workers=2 is invalid"),  # with the default preload=true
]


@pytest.mark.parametrize("experiment, override, message", BAD_VALUES)
def test_bad_value_names_key_and_value(make_cfg, experiment, override, message):
    cfg = make_cfg(experiment, override)
    with pytest.raises(ConfigValueError) as error:
        validate(cfg)
    assert message in str(error.value)
    assert error.value.key == override.split("=")[0].lstrip("+")


@pytest.mark.parametrize("override, message", BAD_WHEN_BUILT)
def test_a_limit_of_one_class_is_checked_by_that_class_naming_key_and_value(
    make_cfg, override, message
):
    cfg = make_cfg("experiment=fashion", override)
    validate(cfg)  # the generic checks know nothing of Fashion-MNIST
    with pytest.raises(ConfigValueError) as error:
        build(cfg, "data")
    assert message in str(error.value) and error.value.key == override.split("=")[0]


@pytest.mark.parametrize(
    "override",
    ["model.net.dropout=0.0", "model.net.dropout=0.5", "data.val_size=1", "data.val_size=59999"],
)
def test_edge_values_inside_the_range_pass(make_cfg, override):
    cfg = make_cfg("experiment=fashion", override)
    validate(cfg)
    build(cfg, "data")


def test_validating_the_polynomial_imports_no_fashion_code(tmp_path):
    """Validation reads the signatures of what the run builds (config_types.py), so it
    imports those modules -- and no others: not the Fashion-MNIST data module."""
    script = f"""
import sys
from hydra import compose, initialize_config_dir
from litlab.validation import validate
with initialize_config_dir({str(CONF_DIR)!r}, version_base="1.3"):
    cfg = compose("train", overrides=["experiment=polynomial", "paths.output_dir={tmp_path}"])
validate(cfg)
print(cfg.model.net._target_)
print("litlab.data.sine" in sys.modules, "litlab.data.fashion" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.stdout.split() == ["litlab.models.polynomial.Polynomial3", "True", "False"], (
        result.stderr
    )


@pytest.mark.parametrize(
    "override, message",
    [
        ("trainer.devices=0", "error: trainer cannot be built: MisconfigurationException:"),
        ("model.net.in_features=-3", "error: model cannot be built: RuntimeError:"),
    ],
)
def test_what_cannot_be_built_is_one_error_line_naming_the_key(
    monkeypatch, capsys, tmp_path, override, message
):
    code, err = train_main(
        monkeypatch, capsys, "experiment=fashion", override, f"paths.log_dir={tmp_path}"
    )
    assert code == 2, err[-2000:]
    assert err.strip().splitlines()[-1].startswith(message), err[-2000:]
    assert "Traceback" not in err
    assert not list(tmp_path.rglob("*.ckpt"))


def test_a_file_where_a_folder_belongs_is_refused_before_any_work(monkeypatch, capsys, tmp_path):
    a_file = tmp_path / "data.txt"
    a_file.write_text("not a folder")
    code, err = train_main(
        monkeypatch, capsys, f"paths.data_dir={a_file}", f"paths.log_dir={tmp_path / 'out'}"
    )
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        f"error: paths.data_dir='{a_file}' is invalid: is a file; a folder is needed here"
    )
    under_a_file = a_file / "sub"
    code, err = train_main(
        monkeypatch, capsys, f"paths.data_dir={under_a_file}", f"paths.log_dir={tmp_path / 'out'}"
    )
    assert code == 2 and f"cannot be created: {a_file} is a file" in err


def test_an_optimized_metric_a_sweep_job_never_logged_fails_the_job_naming_what_it_logged(
    tmp_path, monkeypatch, capsys
):
    code, _ = train_main(
        monkeypatch, capsys,
        "-m", "experiment=polynomial", "data.passes_per_epoch=1", "trainer.max_epochs=1",
        "logger=none", "optimized_metric=train/mse_ration", "seed=1",
        f"paths.log_dir={tmp_path}",
    )  # fmt: skip
    assert code == 1  # a sweep with a failed job
    (status_file,) = tmp_path.glob("multirun/*/*/*/0/status.json")
    status = json.loads(status_file.read_text())
    assert status["status"] == "failed"
    assert "optimized_metric='train/mse_ration' is invalid: this run logged" in status["error"]
    assert "train/mse_ratio" in status["error"]  # the names it did log


def test_a_single_run_says_when_it_never_logged_its_optimized_metric(monkeypatch, capsys, tmp_path):
    from litlab.run import optimized_value

    cfg = compose_config(["experiment=polynomial", "optimized_metric=train/mse_ration"])
    assert optimized_value(cfg, {"train/mse_ratio": 1.0}) is None
    assert "warning: optimized_metric='train/mse_ration'" in capsys.readouterr().err
    assert (
        optimized_value(compose_config(["experiment=polynomial"]), {"train/mse_ratio": 1.5}) == 1.5
    )


def test_a_sweep_with_an_unknown_optimized_metric_mode_stops_before_any_job(
    tmp_path, monkeypatch, capsys
):
    code, stderr = train_main(
        monkeypatch, capsys,
        "-m", "experiment=polynomial", "seed=1,2", "optimized_metric_mode=highest",
        f"paths.log_dir={tmp_path}",
    )  # fmt: skip
    assert code == 2
    assert "error: optimized_metric_mode='highest' is invalid: must be min or max" in stderr
    assert not list(tmp_path.rglob(".hydra"))  # no job started


def test_keys_an_experiment_lacks_are_skipped(make_cfg):
    cfg = make_cfg("experiment=polynomial")
    assert "val_size" not in cfg.data and "hidden_sizes" not in cfg.model.net
    validate(cfg)


def test_missing_checkpoint(make_cfg, tmp_path):
    cfg = make_cfg("experiment=polynomial", f"ckpt_path={tmp_path / 'nope.ckpt'}")
    with pytest.raises(ConfigValueError, match="nope.ckpt' is invalid: no such file"):
        validate(cfg)


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"not a checkpoint at all\n", "not a torch.save file, or truncated"),
        ("truncated", "not a torch.save file, or truncated"),
        ({"weights": torch.zeros(2)}, "not a Lightning checkpoint (no state_dict)"),
    ],
)
def test_file_that_is_not_a_checkpoint(make_cfg, tmp_path, content, reason):
    path = tmp_path / "bad.ckpt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content == "truncated":
        torch.save({"state_dict": {"w": torch.zeros(1000)}}, path)
        path.write_bytes(path.read_bytes()[:-200])
    else:
        torch.save(content, path)
    with pytest.raises(ConfigValueError) as error:
        validate(make_cfg("experiment=polynomial", f"ckpt_path={path}"))
    assert reason in str(error.value)


def test_cli_bad_value_exits_2_with_one_line_and_no_trace(tmp_path, monkeypatch, capsys):
    code, stderr = train_main(monkeypatch, capsys, "model.optimizer.lr=-1",
                              f"paths.log_dir={tmp_path}")  # fmt: skip
    assert code == 2
    assert stderr.strip().splitlines()[-1] == (
        "error: model.optimizer.lr=-1 is invalid: must be a number > 0"
    )
    assert "Traceback" not in stderr
    assert not any(tmp_path.rglob("*.ckpt")) and not any(tmp_path.rglob("events.out.*"))


def test_hydra_full_error_raises_with_the_trace(tmp_path, monkeypatch, capsys):
    code, stderr = train_main(monkeypatch, capsys, "data.batch_size=0", f"paths.log_dir={tmp_path}")
    assert (code, stderr.strip()) == (
        2,
        "error: data.batch_size=0 is invalid: must be a whole number > 0",
    )
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(ConfigValueError, match="data.batch_size=0"):
        train_main(monkeypatch, capsys, "data.batch_size=0", f"paths.log_dir={tmp_path}")


def test_unknown_config_name_gets_hydras_message_with_choices(monkeypatch, capsys):
    code, stderr = train_main(monkeypatch, capsys, "experiment=polinomial")
    assert code == 1
    options = ("fashion", "fashion_90", "fashion_cnn", "fashion_fast", "polynomial")
    choices = "Available options in 'experiment':\n" + "\n".join(f"\t{o}" for o in options)
    assert choices in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    "override, expected",
    [
        ("trainer=gpus", "Available options in 'trainer':\n\tauto\n\tcpu"),
        ("trainer.max_epoch=3", "Could not override 'trainer.max_epoch'"),
    ],
)
def test_unknown_group_option_or_key_is_named(override, expected):
    with pytest.raises(HydraException) as error:
        compose_config([override])
    assert expected in str(error.value)
