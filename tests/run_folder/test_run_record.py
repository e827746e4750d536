"""run_record.json: written into every run folder, true to the run, and shown in TensorBoard."""

from __future__ import annotations

import json
import subprocess
from importlib import metadata

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from litlab.cuda_check import NVML_CUDA_CHECK, nvml_loadable
from litlab.run import run
from litlab.run_folder.record import RECORD_FILE, read_run_record
from tests.conftest import REPO


@pytest.fixture(scope="module")
def recorded_run(tmp_path_factory):
    """A short polynomial run, 2 batches of 200 per step, logged to TensorBoard."""
    from tests.conftest import DATA_DIR, compose_config

    folder = tmp_path_factory.mktemp("record") / "run"
    cfg = compose_config(
        [
            f"paths.output_dir={folder}",
            f"paths.data_dir={DATA_DIR}",
            "experiment=polynomial",
            "trainer.max_epochs=2",
            "trainer.accumulate_grad_batches=2",
            "seed=123",
        ]
    )
    run(cfg)
    return folder


def test_the_record_holds_what_repeating_the_run_needs(recorded_run):
    record = read_run_record(recorded_run)
    assert record["seed"] == 123
    assert record["determinism"] == {
        "use_deterministic_algorithms": True,
        "deterministic_warn_only": False,
        "cudnn_benchmark": False,
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
    }
    assert record["batch"] == {
        "effective_batch_size": 400,
        "batch_size": 200,
        "accumulate_grad_batches": 2,
        "devices": 1,
        "num_nodes": 1,
        "nominal_batch_size": 400,
        "training_samples": 2000,
    }
    for package in ("torch", "lightning", "hydra-core", "torchvision", "numpy"):
        assert record["versions"][package] == metadata.version(package)
    assert record["versions"]["python"].count(".") == 2
    assert record["hardware"]["cpu_count"] >= 1 and record["hardware"]["os"]
    assert record["hardware"]["gpu"] is None  # a CPU run names no GPU, even on a GPU machine
    # run() dropped Lightning's NVML-based CUDA check if this machine has no NVIDIA driver
    assert record["hardware"][NVML_CUDA_CHECK] == ("1" if nvml_loadable() else None)
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert record["git"]["commit"] == head
    assert isinstance(record["git"]["dirty"], bool)
    assert "trainer.accumulate_grad_batches=2" in record["hydra_overrides"]
    assert record["command"]


def test_effective_batch_size_is_a_metric_too(recorded_run):
    metrics = json.loads((recorded_run / "metrics.json").read_text())
    assert metrics["train/effective_batch_size"] == 400


def test_the_record_is_text_in_tensorboard(recorded_run):
    events = EventAccumulator(str(recorded_run / "tensorboard"), size_guidance={"tensors": 0})
    events.Reload()
    assert "run/record/text_summary" in events.Tags()["tensors"]
    text = events.Tensors("run/record/text_summary")[0].tensor_proto.string_val[0].decode()
    assert '"seed": 123' in text
    assert '"effective_batch_size": 400' in text
    scalars = events.Tags()["scalars"]
    assert "train/effective_batch_size" in scalars


def test_turning_determinism_off_is_recorded(make_cfg, tmp_path):
    cfg = make_cfg("experiment=polynomial", "trainer.max_epochs=1", "trainer.deterministic=false")
    run(cfg)
    determinism = read_run_record(tmp_path / "run")["determinism"]
    assert determinism["use_deterministic_algorithms"] is False


def test_a_folder_without_a_record_reads_as_none(tmp_path):
    assert read_run_record(tmp_path) is None
    (tmp_path / RECORD_FILE).write_text('{"seed": 1}')
    assert read_run_record(tmp_path) == {"seed": 1}


def test_the_effective_batch_size_is_what_a_step_sees_not_more_than_the_data(make_cfg, tmp_path):
    cfg = make_cfg(
        "experiment=polynomial", "data.passes_per_epoch=1", "trainer.max_epochs=1",
        "data.batch_size=4096", "trainer.accumulate_grad_batches=4", "logger=none",
        "callbacks.least_squares.figure_every_n_epochs=null",
    )  # fmt: skip
    run(cfg)
    batch = read_run_record(tmp_path / "run")["batch"]
    assert batch["training_samples"] == 2000  # the polynomial's points
    assert batch["nominal_batch_size"] == 4096 * 4  # what the settings multiply to
    assert batch["effective_batch_size"] == 2000  # what one step sees
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["train/effective_batch_size"] == 2000
