"""Same seed, same result -- bit for bit; and a resumed run ends where an uninterrupted one does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from litlab.run import run
from litlab.run_folder.record import read_run_record
from tests.conftest import DATA_DIR, REPO, compose_config, requires_cuda

SHORT = {
    "polynomial": ["experiment=polynomial", "trainer.max_epochs=5", "data.passes_per_epoch=10"],
    # dropout and shuffling on: both draw random numbers every step
    "fashion": [
        "experiment=fashion",
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=8",
        "trainer.limit_val_batches=2",
        "trainer.limit_test_batches=2",
        "model.net.dropout=0.2",
    ],
}


def train_in(folder: Path, *overrides: str) -> tuple[dict[str, torch.Tensor], bytes]:
    """run(cfg) with its run folder in ``folder``: (final weights, metrics.json's bytes)."""
    base = [f"paths.output_dir={folder}", f"paths.data_dir={DATA_DIR}", "logger=none"]
    run(compose_config(base + list(overrides)))
    last = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
    return last["state_dict"], (folder / "metrics.json").read_bytes()


def assert_bitwise_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), f"{name} differs"


def differs(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return any(not torch.equal(a[name], b[name]) for name in a)


@pytest.mark.parametrize("experiment", sorted(SHORT))
def test_same_seed_gives_bitwise_identical_weights_and_metrics(tmp_path, experiment):
    first = train_in(tmp_path / "a", *SHORT[experiment], "seed=0")
    second = train_in(tmp_path / "b", *SHORT[experiment], "seed=0")
    other_seed = train_in(tmp_path / "c", *SHORT[experiment], "seed=1")

    assert_bitwise_equal(first[0], second[0])
    assert first[1] == second[1]  # metrics.json, byte for byte
    assert differs(first[0], other_seed[0])
    assert first[1] != other_seed[1]
    assert read_run_record(tmp_path / "a")["seed"] == 0  # seed 0 is a seed like any other


def test_seed_null_draws_a_seed_records_it_and_the_record_repeats_the_run(tmp_path):
    drawn_runs = [train_in(tmp_path / name, *SHORT["polynomial"], "seed=null") for name in "ab"]
    seeds = [read_run_record(tmp_path / name)["seed"] for name in "ab"]
    assert all(isinstance(seed, int) for seed in seeds)
    assert seeds[0] != seeds[1]  # drawn afresh each time (a 1 in 2**32 chance to fail)
    assert differs(drawn_runs[0][0], drawn_runs[1][0])
    repeated = train_in(tmp_path / "c", *SHORT["polynomial"], f"seed={seeds[0]}")
    assert_bitwise_equal(drawn_runs[0][0], repeated[0])
    assert drawn_runs[0][1] == repeated[1]


def test_a_seed_out_of_range_is_refused_naming_the_key(tmp_path):
    from litlab.errors import ConfigValueError

    with pytest.raises(ConfigValueError, match="seed=-1"):
        train_in(tmp_path, *SHORT["polynomial"], "seed=-1")
    assert not (tmp_path / "checkpoints").exists()


def test_resume_from_last_ckpt_is_exact(tmp_path):
    """Stopped after epoch 2 and resumed to 3 == 3 epochs straight: weights and metrics."""
    fashion = [*SHORT["fashion"], "test=false"]  # the test metrics use the best checkpoint,
    # whose tracking restarts in a new run folder (Lightning's ModelCheckpoint); not the point here
    straight = train_in(tmp_path / "straight", *fashion, "trainer.max_epochs=3")
    train_in(tmp_path / "stopped", *fashion, "trainer.max_epochs=2")
    last = tmp_path / "stopped" / "checkpoints" / "last.ckpt"
    resumed = train_in(tmp_path / "resumed", *fashion, "trainer.max_epochs=3", f"ckpt_path={last}")

    assert_bitwise_equal(straight[0], resumed[0])
    assert json.loads(straight[1]) == json.loads(resumed[1])
    assert straight[1] == resumed[1]

    # Without the RNG states in the checkpoint, dropout draws other masks after the resume.
    no_rng = train_in(
        tmp_path / "no_rng",
        *fashion,
        "trainer.max_epochs=3",
        f"ckpt_path={last}",
        "~callbacks.run_record",  # the RNG states are in its part of the checkpoint
    )
    assert differs(straight[0], no_rng[0])


def test_cublas_workspace_config_is_set_when_litlab_is_imported_unless_the_user_set_it():
    script = (
        "import os, sys, litlab; "
        "assert 'torch' not in sys.modules; "  # so it is in place before any CUDA work
        "print(os.environ['CUBLAS_WORKSPACE_CONFIG'])"
    )
    env = {k: v for k, v in os.environ.items() if k != "CUBLAS_WORKSPACE_CONFIG"}
    env["PYTHONPATH"] = str(REPO / "src")
    default = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True
    )
    assert default.stdout.strip() == ":4096:8", default.stderr
    env["CUBLAS_WORKSPACE_CONFIG"] = ":16:8"
    user = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert user.stdout.strip() == ":16:8", user.stderr


@pytest.mark.gpu
@requires_cuda
def test_two_deterministic_gpu_runs_match_bitwise(tmp_path):
    gpu = [*SHORT["fashion"], "trainer=gpu", "trainer.deterministic=true"]
    first = train_in(tmp_path / "a", *gpu)
    second = train_in(tmp_path / "b", *gpu)
    assert_bitwise_equal(first[0], second[0])
    assert first[1] == second[1]
    record = read_run_record(tmp_path / "a")
    assert record["hardware"]["gpu"] and record["hardware"]["cuda"]
    assert record["determinism"]["use_deterministic_algorithms"] is True
