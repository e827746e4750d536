"""Multiruns as users run them: job folders, summary.csv/summary.md, failed jobs, launchers."""

from __future__ import annotations

import csv
import json
import re
import shutil
import socket
import statistics
import subprocess
import time
from importlib import import_module
from pathlib import Path

import pytest
import torch
import yaml

from litlab.cli import summary_alias as summary_main
from litlab.run import run
from litlab.run_folder.sweep_job import run_recorded
from tests.conftest import REPO, compose_config, run_train

# epochs of one pass (10 steps), not the experiment's 100 passes
POLYNOMIAL = [
    "experiment=polynomial",
    "data.passes_per_epoch=1",
    "trainer.max_epochs=3",
    "logger=none",
]
FASHION_SHORT = [
    "experiment=fashion",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",  # training_step calls: 16 steps
    "trainer.limit_val_batches=5",
    "trainer.limit_test_batches=5",
    "logger=none",
]
DDP_CPU = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"]


def sweep_folder(log_dir: Path) -> Path:
    """The one sweep folder of a multirun: <log_dir>/multirun/<name>/<date>/<time>."""
    folders = list(log_dir.glob("multirun/*/*/*"))
    assert len(folders) == 1, folders
    return folders[0]


def job_folders(sweep: Path) -> list[Path]:
    return sorted(
        (p for p in sweep.iterdir() if (p / ".hydra").is_dir()), key=lambda p: int(p.name)
    )


def read_csv(sweep: Path) -> list[dict[str, str]]:
    with (sweep / "summary.csv").open() as handle:
        return list(csv.DictReader(handle))


def table_rows(markdown: str, first_header: str) -> list[list[str]]:
    """The body rows of the markdown table whose header starts with ``first_header``."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


@pytest.fixture(scope="module")
def failing_sweep(tmp_path_factory):
    """2 seeds x 4 learning rates: two that converge, one refused (lr<0), one that diverges."""
    log_dir = tmp_path_factory.mktemp("sweep")
    result = run_train(
        "-m",
        *POLYNOMIAL,
        "model.optimizer.lr=1e-3,3e-3,-1,1",
        "seed=1,2",
        f"paths.log_dir={log_dir}",
    )
    return result, sweep_folder(log_dir)


def test_failed_jobs_do_not_stop_the_sweep_and_set_the_exit_code(failing_sweep):
    result, sweep = failing_sweep
    assert result.returncode == 1, result.stderr[-3000:]
    assert "(8 jobs: 4 completed, 4 failed)" in result.stdout  # and each failed job, why
    assert len(re.findall(r"^job \d failed: \w+", result.stdout, flags=re.M)) == 4
    # each failed job said so in one line, as a single run does; no traceback on the console
    assert len(re.findall(r"^error: ", result.stderr, flags=re.M)) == 4
    assert "Traceback" not in result.stderr + result.stdout
    folders = job_folders(sweep)
    assert [p.name for p in folders] == [str(i) for i in range(8)]
    statuses = {p.name: json.loads((p / "status.json").read_text())["status"] for p in folders}
    assert sorted(statuses.values()) == ["completed"] * 4 + ["failed"] * 4


def test_summary_csv_has_one_row_per_job_with_its_status_and_metrics(failing_sweep):
    _, sweep = failing_sweep
    rows = read_csv(sweep)
    assert [row["job"] for row in rows] == [str(i) for i in range(8)]
    for row in rows:
        folder = Path(row["run_dir"])
        assert folder.parent == sweep
        overrides = yaml.safe_load((folder / ".hydra" / "overrides.yaml").read_text())
        assert f"model.optimizer.lr={row['model.optimizer.lr']}" in overrides
        assert f"seed={row['seed']}" in overrides
        lr = float(row["model.optimizer.lr"])
        if lr < 0:  # the config check refuses it before any work (litlab.validation)
            assert row["status"] == "failed"
            assert "model.optimizer.lr=-1" in row["error"]
        elif lr >= 1:  # the polynomial's largest stable step is ~0.007 (GUIDE)
            assert row["status"] == "failed"
            # stopped at the first non-finite loss (litlab.callbacks.TrainingGuard)
            assert "training diverged: the loss is" in row["error"]
        else:
            assert row["status"] == "completed", row["error"]
            metrics = json.loads((folder / "metrics.json").read_text())
            assert float(row["train/mse_ratio"]) == pytest.approx(metrics["train/mse_ratio"])


def test_summary_md_groups_seeds_and_ranks_by_the_optimized_metric(failing_sweep):
    _, sweep = failing_sweep
    markdown = (sweep / "summary.md").read_text()
    assert "best first by `train/mse_ratio` (min)" in markdown
    groups = table_rows(markdown, "model.optimizer.lr")
    assert len(groups) == 4  # the seed is not a grouping key
    by_lr: dict[str, list[float]] = {}
    for row in read_csv(sweep):
        if row["status"] == "completed":
            by_lr.setdefault(row["model.optimizer.lr"], []).append(float(row["train/mse_ratio"]))
    ranked = sorted(by_lr, key=lambda lr: statistics.fmean(by_lr[lr]))  # lower is better
    assert [row[0] for row in groups[:2]] == ranked
    best = groups[0]
    assert best[1:3] == ["2", "2"]  # jobs, completed
    mean = statistics.fmean(by_lr[ranked[0]])
    assert best[3].startswith(f"{mean:.4g} ± ") and best[3].endswith("(n=2)")
    assert all(row[2] == "0" for row in groups[2:])  # the failed settings come last
    failed = table_rows(markdown, "job")
    assert sorted(row[0] for row in failed) == ["4", "5", "6", "7"]
    assert all(row[1] == "failed" and row[3] for row in failed)


def test_litlab_summary_rebuilds_an_interrupted_sweep(failing_sweep, tmp_path):
    _, original = failing_sweep
    sweep = tmp_path / "sweep"
    shutil.copytree(original, sweep)
    (sweep / "summary.csv").unlink()
    (sweep / "summary.md").unlink()
    # as if the sweep was killed hard during job 1: still "running", by a process that is gone
    gone = subprocess.Popen(["true"])
    gone.wait()
    running = {"status": "running", "error": None, "started": time.time(), "finished": None,
               "pid": gone.pid, "host": socket.gethostname()}  # fmt: skip
    (sweep / "1" / "status.json").write_text(json.dumps(running))
    (sweep / "1" / "metrics.json").unlink()
    for job in ("2", "3", "4", "5", "6", "7"):  # ... before these started
        shutil.rmtree(sweep / job)
    assert summary_main([str(sweep)]) == 0  # nothing failed; one job is incomplete
    rows = read_csv(sweep)
    assert [(row["job"], row["status"]) for row in rows] == [
        ("0", "completed"),
        ("1", "incomplete"),
    ]
    markdown = (sweep / "summary.md").read_text()
    assert "2 jobs: 1 completed, 1 incomplete." in markdown
    assert table_rows(markdown, "job")[0][:2] == ["1", "incomplete"]


def test_litlab_summary_is_the_declared_console_command(tmp_path, capsys):
    pyproject = (REPO / "pyproject.toml").read_text()
    module, function = re.search(r'^litlab-summary = "(.+)"$', pyproject, re.M).group(1).split(":")
    assert getattr(import_module(module), function) is summary_main
    assert summary_main([str(tmp_path)]) == 2  # no job folders: a clear error, not a blank table
    assert "no job folders" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # and nothing written there


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_user_error_in_a_sweep_job_is_recorded_not_raised(make_cfg, tmp_path):
    assert run_recorded(make_cfg("trainer=gpu", "logger=none"), run) is None
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["status"] == "failed"
    assert status["error"].startswith("UserError: trainer.accelerator='gpu'")
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_joblib_launcher_runs_two_jobs_at_once_in_separate_folders(tmp_path):
    """Two batches of two jobs: the second batch runs in the reused worker processes, which
    must log to their new job's train.log only (not to the first batch's, closed)."""
    result = run_train(
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "experiment=polynomial",
        "data.passes_per_epoch=1",
        "trainer.max_epochs=20",
        "logger=none",
        "seed=1,2,3,4",
        f"paths.log_dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Logging error" not in result.stdout + result.stderr
    sweep = sweep_folder(tmp_path)
    folders = job_folders(sweep)
    assert len(folders) == 4
    times = [json.loads((p / "status.json").read_text()) for p in folders]
    assert all(t["status"] == "completed" for t in times)
    # the first two jobs ran at the same time: each started before the other finished
    assert times[0]["started"] < times[1]["finished"] and times[1]["started"] < times[0]["finished"]
    for folder, seed in zip(folders, (1, 2, 3, 4), strict=True):
        assert f"seed={seed}" in yaml.safe_load((folder / ".hydra/overrides.yaml").read_text())
        assert (folder / "checkpoints" / "last.ckpt").is_file()
        assert (folder / "metrics.json").is_file()
        log = (folder / "train.log").read_text()
        assert "Logging error" not in log
        # its own lines only, each once: its seed, its folder, Lightning's messages
        assert re.findall(r"Seed set to (\d+)", log) == [str(seed)]
        assert re.findall(r"^Run folder: (.+)$", log, flags=re.MULTILINE) == [str(folder)]
        assert log.count("`Trainer.fit` stopped") == 1
    metrics = [json.loads((p / "metrics.json").read_text()) for p in folders]
    assert metrics[0] != metrics[1]  # different seeds, different results: no shared files
    assert [row["status"] for row in read_csv(sweep)] == ["completed"] * 4


def test_optuna_search_config_composes_the_search_space():
    cfg = compose_config(["hparams_search=fashion_optuna", "hidden_size=128"])
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper")
    assert sweeper.direction == "maximize"
    assert cfg.optimized_metric == "val/acc" and cfg.optimized_metric_mode == "max"
    assert set(sweeper.params) == {
        "model.optimizer.lr",
        "hidden_size",
        "model.net.dropout",
        "data.batch_size",
    }
    assert sweeper.params["model.optimizer.lr"].startswith("tag(log, interval(")
    from hydra.utils import instantiate

    net = instantiate(cfg.model.net)
    widths = [layer.out_features for layer in net.layers if isinstance(layer, torch.nn.Linear)]
    assert widths == [128, 128, 10]  # the searched width sets both hidden layers


@pytest.mark.slow
def test_optuna_search_runs_trials_and_reports_the_best(tmp_path):
    result = run_train(
        "-m",
        "hparams_search=fashion_optuna",
        "hydra.sweeper.n_trials=4",
        "model.optimizer.weight_decay=choice(0.0,-1.0)",  # -1: refused, the trial fails
        *FASHION_SHORT[1:],
        f"paths.log_dir={tmp_path}",
    )
    assert result.returncode == 1, result.stderr[-3000:]  # some trials failed, the search went on
    sweep = sweep_folder(tmp_path)
    rows = read_csv(sweep)
    assert len(job_folders(sweep)) == len(rows) == 4
    assert len({row["model.optimizer.lr"] for row in rows}) == 4  # four sampled settings
    for row in rows:
        failed = float(row["model.optimizer.weight_decay"]) < 0
        assert row["status"] == ("failed" if failed else "completed")
        assert ("model.optimizer.weight_decay=-1.0" in row["error"]) == failed
    completed = [row for row in rows if row["status"] == "completed"]
    assert 0 < len(completed) < 4  # TPE seeded by `seed` draws both values in 4 trials
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(max(float(row["val/acc"]) for row in completed))
    groups = table_rows((sweep / "summary.md").read_text(), "model.optimizer.lr")
    assert float(groups[0][0]) == pytest.approx(best["best_params"]["model.optimizer.lr"])


@pytest.mark.slow  # one run folder from several processes: also test_nodes.py, in the default suite
def test_ddp_on_two_cpu_processes_writes_one_run_folder(tmp_path):
    result = run_train(*DDP_CPU, *FASHION_SHORT[:1], "trainer.max_epochs=1",
                       "trainer.limit_train_batches=5", "trainer.limit_val_batches=10",
                       "test=false", "logger=none", f"paths.log_dir={tmp_path}")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Starting with 2 processes" in result.stdout + result.stderr
    assert len(re.findall(r"^Run folder: ", result.stdout, flags=re.MULTILINE)) == 1
    folders = list(tmp_path.glob("fashion/*/*"))
    assert len(folders) == 1
    metrics = json.loads((folders[0] / "metrics.json").read_text())
    assert metrics["val/acc"] > 0.6  # 40 steps (5 calls of 8) of 2 x 64 images: chance is 0.1
    assert {p.name for p in (folders[0] / "checkpoints").iterdir()} >= {"last.ckpt"}


def test_ddp_processes_take_as_many_steps_when_the_epoch_ends_in_a_short_call(tmp_path):
    """2000 points in batches of 300 = 7 batches, 2 steps a call: calls of 2, 2, 2 and 1 steps,
    dealt out to 2 processes. Each backward averages gradients across them, so the process
    with the short call would stop answering (gloo: a collective mismatch); the last call is
    filled up with the epoch's first batches instead."""
    result = run_train(*DDP_CPU, "experiment=polynomial", "data.passes_per_epoch=1",
                       "data.batch_size=300", "steps_per_call=2", "trainer.max_epochs=2",
                       "test=false", "logger=none", f"paths.log_dir={tmp_path}")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (folder,) = tmp_path.glob("polynomial/*/*")
    last = torch.load(folder / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 2 * 2 * 2  # epochs x calls per process x steps per call


@pytest.mark.slow
def test_ddp_inside_a_multirun_runs_each_job_once(tmp_path):
    result = run_train("-m", *DDP_CPU, *FASHION_SHORT, "seed=1,2", f"paths.log_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    sweep = sweep_folder(tmp_path)  # one sweep: DDP did not re-run the command line
    assert len(job_folders(sweep)) == 2
    rows = read_csv(sweep)
    assert [row["status"] for row in rows] == ["completed", "completed"]
    assert all(float(row["test/acc"]) > 0.5 for row in rows)  # 16 steps: chance is 0.1


@pytest.mark.slow
def test_submitit_local_launcher_runs_the_sweep(tmp_path):
    result = run_train(
        "-m", "hydra/launcher=submitit_local", *POLYNOMIAL, "seed=1,2", f"paths.log_dir={tmp_path}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    sweep = sweep_folder(tmp_path)
    assert len(job_folders(sweep)) == 2
    assert list((sweep / ".submitit").iterdir())  # submitit's own job records
    assert [row["status"] for row in read_csv(sweep)] == ["completed", "completed"]


def test_slurm_launcher_is_sized_from_the_trainer():
    from litlab.sweeps.slurm import sizes  # the "auto" sizes (tests/sweeps/test_slurm_launcher.py)

    cfg = compose_config(["hydra/launcher=slurm", "trainer=ddp", "trainer.strategy=ddp",
                          "trainer.accelerator=gpu", "trainer.devices=4", "trainer.num_nodes=2",
                          "hydra.launcher.partition=gpu"])  # fmt: skip
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.litlab_slurm.SlurmLauncher"
    got = sizes(cfg, dict(launcher))
    assert (got["tasks_per_node"], got["gpus_per_node"], launcher.nodes) == (4, 4, 2)
    assert launcher.partition == "gpu"
