"""train.py run as a user runs it: the run folder contract, resuming, testing a checkpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
import yaml

from tests.conftest import REPO, run_folder, run_train

SHORT = {
    # one pass of 10 steps per epoch (the experiment itself makes 100 passes an epoch)
    "polynomial": ["experiment=polynomial", "trainer.max_epochs=3", "data.passes_per_epoch=1"],
    "fashion": [
        "experiment=fashion",
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=5",  # calls of 8 steps: 80 steps in all
        "trainer.limit_val_batches=1",  # batches of 1024
        "trainer.limit_test_batches=1",
    ],
}
EXPECTED_METRICS = {
    "polynomial": {"train/loss", "train/mse", "train/mse_ratio", "test/loss"},
    "fashion": {
        "train/loss",
        "train/acc",
        "val/loss",
        "val/acc",
        "val/acc_best",
        "test/loss",
        "test/acc",
    },
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One short run of each experiment, shared by the contract tests below."""
    log_dir = tmp_path_factory.mktemp("outputs")
    with ThreadPoolExecutor() as pool:  # started together, as two users' runs may be
        done = {name: pool.submit(run_train, *args, f"paths.log_dir={log_dir}")
                for name, args in SHORT.items()}  # fmt: skip
    return {name: future.result() for name, future in done.items()} | {"log_dir": log_dir}


@pytest.mark.parametrize("experiment", sorted(SHORT))
def test_run_folder_contract(runs, experiment):
    result = runs[experiment]
    assert result.returncode == 0, result.stderr[-3000:]
    folder = run_folder(result)
    # outputs/<experiment>/<date>/<time>
    assert folder.parent.parent == runs["log_dir"] / experiment
    config = yaml.safe_load((folder / ".hydra" / "config.yaml").read_text())
    assert config["name"] == experiment
    assert (folder / ".hydra" / "overrides.yaml").is_file()
    assert list((folder / "tensorboard").glob("events.out.tfevents.*"))
    checkpoints = {p.name for p in (folder / "checkpoints").iterdir()}
    assert "last.ckpt" in checkpoints
    assert any(name.startswith("best-") for name in checkpoints)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert EXPECTED_METRICS[experiment] <= set(metrics)
    assert all(isinstance(v, float) for v in metrics.values())
    assert result.stdout.rstrip().splitlines()[-1] == f"Run folder: {folder}"


def test_fashion_metrics_are_the_final_logged_values(runs):
    folder = run_folder(runs["fashion"])
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["test/acc"] > 0.5  # trained: chance is 0.1
    assert metrics["val/acc_best"] >= metrics["val/acc"] - 1e-7
    assert metrics["test/loss"] > 0


def test_resume_from_last_checkpoint_continues_training(runs, tmp_path):
    last = run_folder(runs["polynomial"]) / "checkpoints" / "last.ckpt"
    result = run_train(
        "experiment=polynomial",
        "trainer.max_epochs=5",
        "data.passes_per_epoch=1",
        f"ckpt_path={last}",
        f"paths.log_dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    before = torch.load(last, weights_only=True)
    after = torch.load(run_folder(result) / "checkpoints" / "last.ckpt", weights_only=True)
    assert after["epoch"] - before["epoch"] == 2  # two more epochs of 10 steps each
    assert after["global_step"] - before["global_step"] == 20
    assert "Restoring states from the checkpoint" in result.stdout + result.stderr


def test_train_false_only_tests_the_checkpoint(runs, tmp_path):
    folder = run_folder(runs["polynomial"])
    result = run_train(
        "experiment=polynomial",
        "train=false",
        f"ckpt_path={folder / 'checkpoints' / 'last.ckpt'}",
        f"paths.log_dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_folder(result) / "metrics.json").read_text())
    assert set(metrics) == {"test/loss"}
    original = json.loads((folder / "metrics.json").read_text())
    # the test loss of the checkpoint is the full-data MSE it was trained to
    assert metrics["test/loss"] == pytest.approx(original["train/mse"], rel=1e-5)
    assert not (run_folder(result) / "checkpoints").exists()


def test_two_runs_started_together_get_two_folders(tmp_path):
    import subprocess
    import sys

    from tests.conftest import REPO

    args = [
        sys.executable,
        "train.py",
        "experiment=polynomial",
        "trainer.max_epochs=1",
        "data.passes_per_epoch=1",
        f"paths.log_dir={tmp_path}",
        "logger=none",
    ]
    procs = [
        subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    folders = set()
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
        folders.add(run_folder(subprocess.CompletedProcess(args, 0, out, err)))
    assert len(folders) == 2


def test_gpu_trainer_without_cuda_stops_at_once_suggesting_cpu(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    result = run_train("trainer=gpu", f"paths.log_dir={tmp_path}")
    assert result.returncode != 0
    assert "trainer=cpu" in result.stderr
    assert "Traceback" not in result.stderr
    assert not any(tmp_path.rglob("*.ckpt"))


# Runs train.py --help as a user does, then says which heavy libraries it imported on the way.
HELP_IMPORTS = """
import runpy, sys
sys.argv = ["train.py", "--help"]
try:
    runpy.run_path("train.py", run_name="__main__")
except SystemExit:
    pass
heavy = sorted({name.split(".")[0] for name in sys.modules} & {"torch", "lightning", "matplotlib"})
print("imported:", heavy)
"""


def test_help_is_litlabs_and_imports_neither_torch_nor_lightning():
    result = subprocess.run(
        [sys.executable, "-c", HELP_IMPORTS], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.rstrip().splitlines()[-1] == "imported: []"
    assert "powered by Hydra" not in out
    assert out.startswith("python train.py [group=option ...] [key=value ...]\n\nlitlab: ")
    experiments = sorted(path.stem for path in (REPO / "conf" / "experiment").glob("*.yaml"))
    assert f"experiment: {', '.join(experiments)}\n" in out  # every experiment, from conf/
    assert "python train.py -m " in out and "litlab rerun <run folder> train=false" in out
    assert "README.md" in out


def test_cfg_job_works_as_hydra_gives_it():
    cfg_result = run_train("experiment=polynomial", "--cfg", "job")
    assert cfg_result.returncode == 0
    job = yaml.safe_load(cfg_result.stdout)
    assert job["model"]["net"]["_target_"] == "litlab.models.polynomial.Polynomial3"
    assert job["seed"] == 42
