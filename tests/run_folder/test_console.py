"""What a run prints on the console and keeps in its train.log, train.py run as a user runs it."""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from litlab.console import IGNORED_LOG_MESSAGES, quiet_library_noise
from litlab.run_folder.log import LoggedStream
from tests.conftest import REPO, run_folder, run_train

# a short polynomial run (one training_step call an epoch)
SHORT = ["experiment=polynomial", "data.passes_per_epoch=1", "trainer.max_epochs=2"]


@pytest.fixture(scope="module")
def normal_run(tmp_path_factory) -> subprocess.CompletedProcess[str]:
    return run_train(*SHORT, f"paths.log_dir={tmp_path_factory.mktemp('outputs')}")


def test_a_normal_run_prints_no_warnings_and_no_advertisement(normal_run):
    assert normal_run.returncode == 0, normal_run.stderr[-3000:]
    err = normal_run.stderr
    # every warning is printed as "<file>.py:<line>: <message>" (Python's and Lightning's format)
    assert not re.search(r"\.py:\d+: ", err), err
    for noise in ("deprecated", "FutureWarning", "torch.jit.trace", "Tip:", "litlogger"):
        assert noise not in err, err
    # Lightning's own messages are still there, once each, through its own handler (Lightning
    # imported before Hydra sets up logging)
    assert "\nGPU available: False, used: False\n" in err and err.count("GPU available") == 1


def test_the_console_still_shows_config_first_and_run_folder_last(normal_run):
    out = normal_run.stdout
    assert out.startswith("Config (python train.py --cfg job prints it without running):\n")
    assert "\nFinal metrics:\n" in out
    assert out.rstrip().splitlines()[-1] == f"Run folder: {run_folder(normal_run)}"
    assert "Epoch 1: 100%" in out  # the progress bar, on the console only


def test_train_log_holds_config_lightning_messages_metrics_and_no_progress_bar(normal_run):
    folder = run_folder(normal_run)
    log = (folder / "train.log").read_text()
    assert "Config (python train.py --cfg job prints it without running):" in log
    assert "optimized_metric: train/mse_ratio" in log
    assert "[lightning.pytorch.utilities.rank_zero][INFO] - GPU available: False" in log
    assert "`Trainer.fit` stopped: `max_epochs=2` reached." in log
    assert "learned:       y = " in log  # what a callback printed
    assert "\nFinal metrics:\n" in log and re.search(r"^  train/mse_ratio +\d", log, re.M)
    assert log.rstrip().endswith(f"Run folder: {folder}")
    assert "\r" not in log and "it/s" not in log and "Epoch 0" not in log
    assert "Tip:" not in log and "deprecated" not in log


def run_merged(*args: str) -> str:
    """stdout and stderr in one stream, in the order printed (as a terminal shows them)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(
        [sys.executable, "train.py", *args], cwd=REPO, env=env, text=True, timeout=300,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    return result.stdout


def only_run_folder(log_dir: Path) -> Path:
    (folder,) = log_dir.glob("*/*/*")
    return folder


def test_an_error_in_training_gets_its_own_line_on_the_console_and_in_train_log(tmp_path):
    output = run_merged(*SHORT, "model.optimizer.lr=0.5", f"paths.log_dir={tmp_path}")
    last = output.rstrip("\n").split("\n")[-1]
    # not glued to the progress bar, and the bar is not drawn again after it
    assert last.startswith("error: training diverged: the loss is inf"), output[-2000:]
    log = (only_run_folder(tmp_path) / "train.log").read_text()
    assert log.rstrip("\n").split("\n")[-1] == last


def test_a_failed_runs_traceback_is_in_train_log(tmp_path):
    # SGD refuses Nesterov momentum without momentum, when training builds the optimizer
    result = run_train(*SHORT, "+model.optimizer.nesterov=true", f"paths.log_dir={tmp_path}")
    assert result.returncode == 1
    assert "Nesterov momentum requires a momentum" in result.stderr  # Hydra's report
    log = (only_run_folder(tmp_path) / "train.log").read_text()
    assert "The run failed:\nTraceback (most recent call last):" in log
    assert "Nesterov momentum requires a momentum" in log
    assert "Config (python train.py" in log  # what came before stays


def test_logged_stream_copies_lines_without_what_a_terminal_overwrites():
    console, log = io.StringIO(), io.StringIO()
    stream = LoggedStream(console, log)
    written = [
        "Config:\n  seed: 1\n",
        "\rEpoch 0:  50%|##   | 1/2",  # tqdm: each redraw starts with a carriage return
        "\rEpoch 0: 100%|#####| 2/2",
        "\n",
        "\x1b[1mTotal params\x1b[0m: 4     \n",  # rich: colours and padding
        "\n",  # an empty line printed on purpose
        "last, no newline",
    ]
    for text in written:
        stream.write(text)
    stream.end()
    assert console.getvalue() == "".join(written)  # the console gets everything, unchanged
    assert log.getvalue() == "Config:\n  seed: 1\nTotal params: 4\n\nlast, no newline\n"


def test_the_filters_drop_only_the_messages_they_name():
    quiet_library_noise()
    leaf_spec = "`isinstance(treespec, LeafSpec)` is deprecated, use ..."
    with warnings.catch_warnings(record=True) as caught:
        for module in ("lightning.pytorch.utilities._pytree", "litlab.elsewhere"):
            warnings.warn_explicit(leaf_spec, FutureWarning, "x.py", 1, module, registry={})
    assert [str(w.message) for w in caught] == [leaf_spec]  # only the one from elsewhere
    (name,) = IGNORED_LOG_MESSAGES
    logger = logging.getLogger(name)
    tip = logging.makeLogRecord({"msg": "💡 Tip: For seamless cloud logging, try ..."})
    other = logging.makeLogRecord({"msg": "GPU available: False, used: False"})
    assert not logger.filter(tip) and logger.filter(other)
    assert logging.getLogger("litlab").filter(tip)  # other loggers are left alone


# -- what a resumed, continued or test-only run prints (in-process, one short first run) ------

QUICK = [*SHORT[:2], "trainer.max_epochs=1", "logger=none", f"paths.data_dir={REPO / 'data'}"]
LIGHTNING_RESUME_WARNINGS = ("The dirpath has changed", "exists and is not empty")


def run_in_process(capsys, caplog, output_dir: Path, *overrides: str) -> tuple[str, str, list[str]]:
    """``run(cfg)`` as train.py calls it: (stdout, stderr and log messages, the warnings it let
    through)."""
    from litlab.run import run
    from tests.conftest import compose_config

    cfg = compose_config([*QUICK, f"paths.output_dir={output_dir}", *overrides])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # run() puts its filters in front of this one
        run(cfg)
    out, err = capsys.readouterr()
    return out, err + "\n".join(caplog.messages), [str(w.message) for w in caught]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> Path:
    """One epoch of the polynomial, trained in this process: a folder to resume and test."""
    folder = tmp_path_factory.mktemp("first") / "run"
    from litlab.run import run
    from tests.conftest import compose_config

    run(compose_config([*QUICK, f"paths.output_dir={folder}"]))
    return folder


def test_a_resume_into_a_new_folder_says_what_it_means_instead_of_lightnings_warning(
    first_run, tmp_path, capsys, caplog
):
    last = first_run / "checkpoints" / "last.ckpt"
    out, err, caught = run_in_process(
        capsys, caplog, tmp_path / "resumed", f"ckpt_path={last}", "trainer.max_epochs=2"
    )
    assert not [m for m in caught if m.startswith(LIGHTNING_RESUME_WARNINGS)], caught
    assert not any(noise in out + err for noise in LIGHTNING_RESUME_WARNINGS)
    note = (
        f"Resuming from {last}: this run's best checkpoint, the one it tests, is the best of the "
        f"epochs it trains; the earlier ones stay in {first_run / 'checkpoints'}."
    )
    assert note in err


def test_continuing_in_the_same_folder_says_so_instead_of_lightnings_warning(
    tmp_path, capsys, caplog
):
    folder = tmp_path / "run"  # as a sweep's job goes on from its own checkpoint
    run_in_process(capsys, caplog, folder)
    last = folder / "checkpoints" / "last.ckpt"
    out, err, caught = run_in_process(
        capsys, caplog, folder, f"ckpt_path={last}", "trainer.max_epochs=2"
    )
    assert not [m for m in caught if m.startswith(LIGHTNING_RESUME_WARNINGS)], caught
    assert not any(noise in out + err for noise in LIGHTNING_RESUME_WARNINGS)
    assert f"Continuing this run folder's own {last}: its checkpoints are updated in place." in err


def test_a_test_only_run_ends_with_its_run_folder_and_no_warning(
    first_run, tmp_path, capsys, caplog
):
    (best,) = (first_run / "checkpoints").glob("best-*.ckpt")
    out, err, caught = run_in_process(
        capsys, caplog, tmp_path / "tested", "train=false", f"ckpt_path={best}"
    )
    assert out.rstrip().splitlines()[-1] == f"Run folder: {tmp_path / 'tested'}"
    assert "warning:" not in err and "optimized_metric" not in err  # only training logs it
    assert not [m for m in caught if m.startswith(LIGHTNING_RESUME_WARNINGS)], caught
    assert "Resuming" not in err and "Continuing" not in err  # a test writes no checkpoint


def test_the_checkpoint_saved_on_sigterm_logs_no_weights_only_notice(first_run, capsys, caplog):
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    from litlab.callbacks import TrainingGuard
    from litlab.run import build, build_trainer
    from tests.conftest import compose_config

    quiet_library_noise()  # as run() does
    cfg = compose_config([*QUICK, f"paths.output_dir={first_run.parent / 'sigterm'}"])
    model = build(cfg, "model")
    trainer = build_trainer(cfg, model, callbacks=[], enable_progress_bar=False)
    trainer.fit(model, datamodule=build(cfg, "data"))
    caplog.clear()
    TrainingGuard(interrupt_checkpoint="stopped.ckpt").on_exception(
        trainer, model, SIGTERMException()
    )
    err = capsys.readouterr().err + "\n".join(caplog.messages)
    assert (first_run.parent / "sigterm" / "checkpoints" / "stopped.ckpt").is_file()
    assert "SIGTERM at step" in err and "weights_only" not in err, err
