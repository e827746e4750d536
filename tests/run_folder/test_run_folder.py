"""The run-folder model and the tools on it, over folders crafted file by file (the tools only
read): broken files, a sweep still running, the runs table on 80 columns, a failed sweep job."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from litlab.cli import main as litlab
from litlab.run_folder.folder import Run
from litlab.run_folder.results import write_metrics
from litlab.run_folder.sweep_job import run_recorded
from tests.conftest import REPO

CONFIG = {"name": "polynomial", "seed": 1, "optimized_metric": "val/acc", "logger": None}


def write_run(folder: Path, overrides=("seed=1",), status="completed", files=None) -> Path:
    """A run folder as train.py leaves it; ``files``: {name: text} written over it."""
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(list(overrides)))
    record = {"status": status, "error": None, "started": 1.7e9, "finished": 1.7e9 + 5,
              "pid": 1, "host": "elsewhere"}  # fmt: skip
    (folder / "status.json").write_text(json.dumps(record))
    (folder / "metrics.json").write_text(json.dumps({"val/acc": 0.5}))
    for name, text in (files or {}).items():
        (folder / name).write_text(text)
    return folder


BROKEN = {  # name: (file, text, reason)
    "status": ("status.json", "[1, 2]", "status.json is not a JSON object"),
    "metrics": ("metrics.json", '"0.5"', "metrics.json is not a mapping"),
    "config": (".hydra/config.yaml", "a: [", ".hydra/config.yaml cannot be read"),
    "overrides": (".hydra/overrides.yaml", "- 'a=[1'", ".hydra/overrides.yaml: cannot read"),
}


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    """One readable run and one of each broken kind."""
    write_run(tmp_path / "good")
    for name, (file, text, _) in BROKEN.items():
        write_run(tmp_path / f"broken_{name}", files={file: text})
    return tmp_path


def test_a_broken_file_makes_its_run_unreadable_with_the_reason(outputs):
    for name, (_, _, reason) in BROKEN.items():
        run = Run(outputs / f"broken_{name}")
        assert run.status == "unreadable" and run.error.startswith(reason), run.error
    assert Run(outputs / "good").status == "completed" and Run(outputs / "good").problem is None


def test_litlab_runs_lists_unreadable_folders_and_the_others(outputs, capsys):
    assert litlab(["runs", str(outputs), "--csv"]) == 0
    rows = {Path(r["folder"]).name: r for r in __import__("csv").DictReader(
        capsys.readouterr().out.splitlines())}  # fmt: skip
    assert rows["good"]["status"] == "completed"
    for name, (_, _, reason) in BROKEN.items():
        assert rows[f"broken_{name}"]["status"] == "unreadable"
        assert rows[f"broken_{name}"]["error"].startswith(reason)
    assert litlab(["runs", str(outputs)]) == 0
    assert "5 runs: 1 completed, 4 unreadable" in capsys.readouterr().out


def test_litlab_summary_lists_an_unreadable_job_and_summarizes_the_others(tmp_path, capsys):
    write_run(tmp_path / "0", ["seed=1"])
    write_run(tmp_path / "1", ["seed=2"], files={"status.json": "{"})
    write_run(tmp_path / "2", ["seed=3"], status="pruned")
    assert litlab(["summary", str(tmp_path)]) == 1  # an unreadable job is not a good sweep
    out = capsys.readouterr().out
    assert "3 jobs: 1 completed, 1 pruned, 1 unreadable" in out
    assert "job 1 unreadable: status.json is not JSON" in out
    summary = (tmp_path / "summary.md").read_text()
    assert "| 1 | unreadable |" in summary and "| 2 | pruned |" in summary


def test_a_failed_jobs_line_says_why_and_its_missing_curve_why(tmp_path, capsys):
    write_run(tmp_path / "0", ["seed=1"])
    write_run(tmp_path / "1", ["seed=2"], status="failed")
    record = json.loads((tmp_path / "1" / "status.json").read_text())
    (tmp_path / "1" / "status.json").write_text(json.dumps(record | {"error": "ValueError: x"}))
    assert litlab(["summary", str(tmp_path)]) == 1
    assert "job 1 failed: ValueError: x (" in capsys.readouterr().out
    summary = (tmp_path / "summary.md").read_text()
    assert "job 0 ran with logger=none; job 1 failed before logging it" in summary


def test_metrics_json_is_replaced_whole(tmp_path, monkeypatch):
    write_metrics(tmp_path, {"a": 1.0})
    replaced = []
    monkeypatch.setattr(os, "replace", lambda a, b: replaced.append((Path(a).name, Path(b))))
    write_metrics(tmp_path, {"a": 2.0})  # written beside it, then moved over it
    assert replaced == [(f".metrics.json.{os.getpid()}", tmp_path / "metrics.json")]
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"a": 1.0}


def sweep_folder(tmp_path: Path, host: str, pid: int) -> Path:
    sweep = tmp_path / "sweep"
    master = {"hydra": {"sweeper": {"_target_": "x"}, "sweep": {"dir": str(sweep)},
                        "overrides": {"task": [], "hydra": []}}}  # fmt: skip
    write_run(sweep / "0")
    write_run(sweep / "1", status="running")
    status = json.loads((sweep / "1" / "status.json").read_text())
    status |= {"host": host, "pid": pid, "started": time.time()}
    (sweep / "1" / "status.json").write_text(json.dumps(status))
    (sweep / "multirun.yaml").write_text(yaml.safe_dump(master))
    return sweep


def test_resume_refuses_a_sweep_whose_job_still_runs(tmp_path, capsys):
    sweep = sweep_folder(tmp_path, socket.gethostname(), os.getpid())
    assert litlab(["resume", str(sweep), "--force"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: job 1 of {sweep} is still running (process {os.getpid()}")
    other = sweep_folder(tmp_path / "b", "gpu-node-7", 12345)
    assert litlab(["resume", str(other)]) == 2
    err = capsys.readouterr().err.strip()
    assert "running on gpu-node-7" in err and err.endswith("resume with --force")
    assert len(err.splitlines()) == 1


def test_resume_refuses_a_sweep_record_without_its_keys(tmp_path, capsys):
    sweep = sweep_folder(tmp_path, "elsewhere", 1)
    (sweep / "multirun.yaml").write_text("hydra: {sweep: {}}\n")
    assert litlab(["resume", str(sweep)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {sweep}/multirun.yaml is unreadable: it lacks hydra.sweeper._target_, "
                   "hydra.sweep or hydra.overrides.task/hydra")  # fmt: skip


def test_the_runs_table_never_breaks_a_path_on_80_columns_or_piped(tmp_path):
    deep = tmp_path / "outputs" / "fashion" / "2026-11-29" / "a-rather-long-run-folder-name-123456"
    write_run(deep, ["seed=1", "model.optimizer.lr=0.001", "trainer.max_epochs=20" * 3])
    write_run(tmp_path / "outputs" / "b", ["seed=2"], status="failed")
    for env in ({"COLUMNS": "80"}, {}):  # a narrow terminal's width; piped
        env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | env
        out = subprocess.run([sys.executable, "-m", "litlab", "runs", str(tmp_path / "outputs")],
                             capture_output=True, text=True, env=env, cwd=REPO).stdout  # fmt: skip
        lines = out.splitlines()
        assert any(str(deep) in line for line in lines), out
        assert [line.split()[3] for line in lines if str(tmp_path / "outputs" / "b") in line] == [
            "failed"
        ]  # `litlab runs | grep failed` finds the run, and its whole folder


def test_a_failed_sweep_job_prints_one_line_and_logs_its_traceback(tmp_path, capsys):
    log_file = tmp_path / "train.log"
    handler = logging.FileHandler(log_file)  # as Hydra's job logging adds it
    logging.getLogger().handlers.insert(0, handler)
    cfg = OmegaConf.create({"paths": {"output_dir": str(tmp_path)}, "train": False})

    def boom(cfg):
        raise ValueError("boom")

    try:
        assert run_recorded(cfg, boom) is None
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    err = capsys.readouterr().err
    assert err == f"error: ValueError: boom (traceback in {log_file})\n"
    text = log_file.read_text()
    assert "Traceback (most recent call last)" in text and 'raise ValueError("boom")' in text
    assert json.loads((tmp_path / "status.json").read_text())["status"] == "failed"


def test_the_guard_of_every_run_and_the_cli_do_not_import_the_optuna_sweeper():
    code = ("import sys, litlab.run_folder.guard, litlab.cli; litlab.cli.build_parser(); "
            "print(sorted(m for m in sys.modules if 'optuna' in m))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.strip() == "[]", out.stderr


def test_diff_says_in_one_line_that_the_run_records_are_equal(tmp_path, capsys):
    record = {"git": {"commit": "a" * 40, "dirty": False}, "versions": {"torch": "2.1"},
              "hardware": {"os": "Linux"}}  # fmt: skip
    for name in "ab":
        write_run(tmp_path / name, files={"run_record.json": json.dumps(record)})
    assert litlab(["diff", str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "Run records: equal (4 values of git, versions, hardware)" in out and "≠" not in out


def test_resume_of_a_sweep_says_which_jobs_are_unreadable_and_goes_on(tmp_path, capsys):
    sweep = sweep_folder(tmp_path, "elsewhere", 1)
    (sweep / "0" / "metrics.json").write_text("[]")
    master = yaml.safe_load((sweep / "multirun.yaml").read_text())
    master["hydra"]["sweeper"]["_target_"] = (
        "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
    )
    master["hydra"]["sweep"]["subdir"] = "${hydra.job.num}"
    (sweep / "multirun.yaml").write_text(yaml.safe_dump(master))
    assert litlab(["resume", str(sweep), "--force", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"job 0 of {sweep} is unreadable (metrics.json is not a mapping): it runs again" in out
    assert out.strip().splitlines()[-1].startswith("python train.py -m ")
