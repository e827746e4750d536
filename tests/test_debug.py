"""The debugging presets: `python train.py debug=<preset>`."""

from __future__ import annotations

import json

from tests.conftest import run_folder, train_in_process


def test_fast_dev_run_runs_one_call_of_each_stage(tmp_path, monkeypatch, capsys):
    result = train_in_process(monkeypatch, capsys, "debug=fast_dev_run",
                              f"paths.log_dir={tmp_path}")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Running in `fast_dev_run` mode" in (run_folder(result) / "train.log").read_text()
    metrics = json.loads((run_folder(result) / "metrics.json").read_text())
    assert {"train/loss", "val/acc", "test/acc"} <= metrics.keys()
    assert not list(tmp_path.rglob("*.ckpt"))  # fast_dev_run writes no checkpoints


def test_overfit_drives_the_loss_on_one_batch_towards_zero(tmp_path, monkeypatch, capsys):
    result = train_in_process(
        monkeypatch, capsys, "debug=overfit", "trainer.max_epochs=40", "logger=none", "test=false",
        f"paths.log_dir={tmp_path}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_folder(result) / "metrics.json").read_text())
    assert metrics["train/acc"] == 1.0  # the 64 images of the one batch, learnt by heart
    assert metrics["train/loss"] < 0.05


def test_profiler_writes_where_the_time_went(tmp_path, monkeypatch, capsys):
    result = train_in_process(
        monkeypatch, capsys, "debug=profiler", "experiment=polynomial", "data.passes_per_epoch=1",
        "trainer.max_epochs=1", "logger=none", f"paths.log_dir={tmp_path}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    profile = (run_folder(result) / "fit-profile.txt").read_text()
    assert "run_training_epoch" in profile and "training_step" in profile
