"""`litlab runs` and `litlab diff` over real runs: completed, failed, interrupted (SIGTERM) and
killed hard (SIGKILL), each with the status.json train.py writes for every run."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from litlab.cli.diff import config_differences
from litlab.run_folder.folder import read_run
from litlab.run_folder.status import read_status
from tests.conftest import REPO

# one pass of 10 steps per epoch; no logger: the run tools read the folder's own files
POLYNOMIAL = ["experiment=polynomial", "data.passes_per_epoch=1", "logger=none"]
RUNS = {  # name -> overrides; each a single run, all started at once
    "completed": [*POLYNOMIAL, "trainer.max_epochs=2", "seed=1"],
    "completed_lr": [*POLYNOMIAL, "trainer.max_epochs=2", "seed=2", "model.optimizer.lr=3e-3"],
    "refused": ["experiment=fashion", "data.batch_size=0", "logger=none"],
    "sigterm": [*POLYNOMIAL, "trainer.max_epochs=800"],
    "sigkill": [*POLYNOMIAL, "trainer.max_epochs=800"],
}
STOPPED_BY = {"sigterm": signal.SIGTERM, "sigkill": signal.SIGKILL}


def litlab(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The `litlab` command as a user runs it (``python -m litlab`` needs no reinstall)."""
    return subprocess.run(
        [sys.executable, "-m", "litlab", *args],
        cwd=REPO, capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip


def wait_for(path: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 180
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, f"no {path}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """A folder of five runs, started together: two complete, one fails (a fashion run with a
    bad value), one is stopped by SIGTERM and one killed by SIGKILL after their first epoch.
    Returns the folder, each run's folder and exit code, and the status the SIGTERM run had
    while it trained."""
    log_dir = tmp_path_factory.mktemp("outputs")
    procs, folders = {}, {}
    for name, overrides in RUNS.items():
        folders[name] = log_dir / overrides[0].split("=")[1] / name
        procs[name] = subprocess.Popen(
            [sys.executable, "train.py", *overrides, f"hydra.run.dir={folders[name]}"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
    while_running = None
    for name, signum in STOPPED_BY.items():
        wait_for(folders[name] / "checkpoints" / "last.ckpt", procs[name])
        if name == "sigterm":
            while_running = json.loads((folders[name] / "status.json").read_text())
            while_running["read"] = read_status(folders[name]).status
        procs[name].send_signal(signum)
    codes, stderr = {}, {}
    for name, proc in procs.items():
        stderr[name] = proc.communicate(timeout=300)[1]
        codes[name] = proc.returncode
    pids = {name: proc.pid for name, proc in procs.items()}
    return {"root": log_dir, "folders": folders, "codes": codes, "stderr": stderr, "pids": pids,
            "while_running": while_running}  # fmt: skip


def csv_rows(result: subprocess.CompletedProcess[str]) -> list[dict[str, str]]:
    assert result.returncode == 0, result.stderr[-3000:]
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_every_run_records_its_status_and_keeps_its_exit_code(outputs):
    codes = outputs["codes"]
    assert codes == {
        "completed": 0,
        "completed_lr": 0,
        "refused": 2,
        "sigterm": 128 + signal.SIGTERM,
        "sigkill": -signal.SIGKILL,
    }, outputs["stderr"]
    # while training: running, with the run's own process id; the reader agrees
    running = outputs["while_running"]
    assert running["status"] == "running" and running["read"] == "running"
    assert running["pid"] == outputs["pids"]["sigterm"] and running["finished"] is None
    recorded = {
        name: json.loads((folder / "status.json").read_text())
        for name, folder in outputs["folders"].items()
    }
    assert {name: record["status"] for name, record in recorded.items()} == {
        "completed": "completed",
        "completed_lr": "completed",
        "refused": "failed",
        "sigterm": "interrupted",
        "sigkill": "running",  # killed hard: it could not say how it ended ...
    }
    assert read_status(outputs["folders"]["sigkill"]).status == "incomplete"  # ... readers can
    assert recorded["sigterm"]["error"] == "SIGTERM"
    assert recorded["refused"]["error"].startswith("ConfigValueError: data.batch_size=0 is invalid")
    for name, record in recorded.items():
        if name == "sigkill":
            assert record["finished"] is None
        else:
            assert record["started"] < record["finished"]


def test_runs_lists_every_run_with_status_metrics_and_folder(outputs):
    rows = csv_rows(litlab("runs", str(outputs["root"]), "--csv"))
    by_folder = {Path(row["folder"]): row for row in rows}
    assert set(by_folder) == set(outputs["folders"].values())
    expected = {"completed": "completed", "completed_lr": "completed", "refused": "failed",
                "sigterm": "interrupted", "sigkill": "incomplete"}  # fmt: skip
    for name, folder in outputs["folders"].items():
        row = by_folder[folder]
        assert row["status"] == expected[name], row
        assert row["experiment"] == ("fashion" if name == "refused" else "polynomial")
        assert row["overrides"] == " ".join(
            yaml.safe_load((folder / ".hydra" / "overrides.yaml").read_text())
        )
        metrics_file = folder / "metrics.json"
        if name.startswith("completed"):
            metrics = json.loads(metrics_file.read_text())
            assert (row["optimized_metric"], row["test_metric"]) == ("train/mse_ratio", "test/loss")
            assert float(row["optimized"]) == metrics["train/mse_ratio"]
            assert float(row["test"]) == metrics["test/loss"]
        else:
            assert not metrics_file.exists() and row["optimized"] == row["test"] == ""
    assert by_folder[outputs["folders"]["sigkill"]]["error"].startswith("its process ")
    started = [row["started"] for row in rows]
    assert started == sorted(started)  # oldest first


def test_runs_piped_is_one_line_a_run_and_counts_the_statuses(outputs):
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    result = litlab("runs", str(outputs["root"]), env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for folder in outputs["folders"].values():  # for grep: the whole row and folder on one line
        [line] = [line for line in lines if line.rstrip().endswith(str(folder))]
    assert lines[0].split()[:4] == ["experiment", "started", "status", "overrides"]
    assert lines[-1] == "5 runs: 2 completed, 1 failed, 1 interrupted, 1 incomplete"
    assert "polynomial: optimized = train/mse_ratio (lower is better), test = test/loss" in lines


def test_runs_filters_by_experiment(outputs):
    rows = csv_rows(litlab("runs", str(outputs["root"]), "--experiment", "fashion", "--csv"))
    assert [(Path(r["folder"]), r["status"]) for r in rows] == [
        (outputs["folders"]["refused"], "failed")
    ]
    result = litlab("runs", str(outputs["root"]), "--experiment", "fasion")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: no runs of experiment 'fasion' under {outputs['root']}; "
        "there are runs of: fashion, polynomial"
    ]


def test_runs_sorts_best_first_by_a_metric(outputs):
    rows = csv_rows(litlab("runs", str(outputs["root"]), "--sort", "train/mse_ratio", "--csv"))
    ranked = [row for row in rows if row["train/mse_ratio"]]
    assert len(ranked) == 2 and rows[:2] == ranked  # runs without the metric come last
    values = [float(row["train/mse_ratio"]) for row in ranked]
    assert values == sorted(values)  # the polynomial's optimized_metric_mode: min
    result = litlab("runs", str(outputs["root"]), "--sort", "val/acc")
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot sort by 'val/acc': none of these runs has it")
    assert len(result.stderr.strip().splitlines()) == 1


def test_runs_of_a_missing_folder_is_an_error(tmp_path):
    result = litlab("runs", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert result.stderr == f"error: {tmp_path / 'nowhere'}: no such folder\n"


def test_diff_shows_exactly_the_keys_that_differ_and_the_run_records(outputs):
    a, b = outputs["folders"]["completed"], outputs["folders"]["completed_lr"]
    differences = config_differences(read_run(a), read_run(b))
    assert differences == {"seed": (1, 2), "model.optimizer.lr": (0.001, 0.003)}
    result = litlab("diff", str(a), str(b))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Config: 2 keys differ" in out
    config = out.split("Config: 2 keys differ")[1].split("Metrics")[0]
    keys = [line.split()[0] for line in config.splitlines()[3:] if line.strip()]  # after the rule
    assert keys == ["seed", "model.optimizer.lr"]
    metrics = {line.split()[0] for line in out.split("Metrics")[1].splitlines() if "/" in line}
    assert {"train/mse_ratio", "test/loss"} <= metrics
    assert "Run records: equal (" in out  # one machine, one commit: said in one line
    assert max(map(len, out.splitlines())) <= 100


def test_diff_marks_the_run_record_rows_that_differ(outputs, tmp_path):
    a = outputs["folders"]["completed"]
    b = tmp_path / "b"
    shutil.copytree(outputs["folders"]["completed_lr"], b)
    record = json.loads((b / "run_record.json").read_text())
    record["versions"]["torch"] = "0.0-other"
    (b / "run_record.json").write_text(json.dumps(record))
    out = litlab("diff", str(a), str(b)).stdout
    records = out.split("Run records")[1].splitlines()
    marked = [line.split()[0] for line in records if line.rstrip().endswith("≠")]
    assert marked == ["versions.torch"]  # the same machine and code otherwise


def test_diff_of_a_folder_that_is_not_a_run_is_an_error(outputs):
    result = litlab("diff", str(outputs["folders"]["completed"]), str(outputs["root"]))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {outputs['root']} is not a run folder")
    assert len(result.stderr.strip().splitlines()) == 1


def test_litlab_is_the_declared_console_command_and_lists_its_subcommands():
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'^litlab = "litlab.cli:main"$', pyproject, re.M)
    result = litlab("--help")
    assert result.returncode == 0
    for command in ("runs", "diff", "summary", "rerun", "resume"):
        assert re.search(rf"^    {command} ", result.stdout, re.M), result.stdout
