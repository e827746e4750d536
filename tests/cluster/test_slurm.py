"""``hydra/launcher=slurm`` as shipped, on a real one-node SLURM (tests/engines/slurm.py).

One sweep of three jobs is shared: jobs 0 and 1 are the same job, and job 1 is requeued by
SLURM while it trains (``scontrol requeue``, as a preemption does), so it must end where job 0
did; job 2 diverges and is recorded as failed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO

# slow: each test waits on real sbatch jobs; .ci/run runs them with `pytest -m "cluster and slow"`
pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.xdist_group("slurm")]

TINY = ["experiment=polynomial", "logger=csv", "hydra/launcher=slurm"]
# epochs of 200 steps: after the first, 1800 steps are left for the requeue to land in
SWEEP = [*TINY, "data.passes_per_epoch=20", "trainer.max_epochs=10",
         "model.optimizer.lr=0.001,0.001,100"]  # fmt: skip


def train(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """train.py as a user starts it, from another folder."""
    return subprocess.Popen([sys.executable, str(REPO / "train.py"), *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def litlab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "litlab", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)  # fmt: skip


def finish(proc: subprocess.Popen[str], timeout: float = 600) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def wait_until(condition, what: str, proc: subprocess.Popen[str] | None = None, timeout=300):
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the sweep ended before {what}:\n{proc.communicate()[1][-3000:]}")
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(0.05)


def sweep_folder(log_dir: Path) -> Path:
    (found,) = log_dir.glob("multirun/*/*/*/multirun.yaml")
    return found.parent


def slurm_job(sweep: Path, job: int) -> str:
    """The SLURM id of sweep job ``job`` (submitit's folder for it is named so: <array>_<job>,
    or the plain job id when it was submitted alone)."""
    names = [p.name for p in (sweep / ".submitit").iterdir() if p.is_dir()]
    found = [name for name in names if name.endswith(f"_{job}")] or \
        [name for name in names if name.isdigit()]  # fmt: skip
    assert len(found) == 1, names
    return found[0]


def status(job: Path) -> dict:
    return json.loads((job / "status.json").read_text())


def weights(job: Path) -> dict[str, torch.Tensor]:
    return torch.load(job / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def job_state(cluster, job_id: str) -> tuple[str, str]:
    out = cluster.run("squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T|%r", check=False)
    return tuple(out.stdout.strip().split("|")) if "|" in out.stdout else ("", "")


@pytest.fixture(scope="module")
def sweep(slurm_cluster, tmp_path_factory):
    """The shared sweep, with job 1 requeued after its first epoch: (exit code, stderr, folder,
    job 1's SLURM id)."""
    log_dir = tmp_path_factory.mktemp("slurm-sweep")
    proc = train("-m", *SWEEP, f"paths.log_dir={log_dir}", cwd=log_dir)

    def first_epoch_saved():
        found = list(log_dir.glob("multirun/*/*/*/1/checkpoints/last.ckpt"))
        return found and zipfile.is_zipfile(found[0]) and found[0]

    sweep = wait_until(first_epoch_saved, "job 1's first checkpoint", proc).parents[2]
    job_id = slurm_job(sweep, 1)
    slurm_cluster.run("scontrol", "requeue", job_id)
    # SLURM holds a requeued job back (BeginTime) for a while; a preempting cluster would too
    wait_until(lambda: job_state(slurm_cluster, job_id) == ("PENDING", "BeginTime"),
               "the requeued job pending", proc)  # fmt: skip
    slurm_cluster.run("scontrol", "update", f"JobId={job_id}", "StartTime=now")
    code, _, err = finish(proc)
    return code, err, sweep, job_id


def test_a_sweep_through_sbatch_ends_with_its_summary(sweep):
    code, err, folder, _ = sweep
    assert code == 1, err[-3000:]  # one job failed: the sweep says so
    rows = list(csv_rows(folder))
    assert [(row["job"], row["status"]) for row in rows] == [
        ("0", "completed"), ("1", "completed"), ("2", "failed")]  # fmt: skip
    assert "3 jobs: 2 completed, 1 failed" in (folder / "summary.md").read_text()
    for job in range(3):  # each job ran as a task of one SLURM job array
        log = next((folder / ".submitit" / slurm_job(folder, job)).glob("*_0_log.out"))
        assert f"job_id={slurm_job(folder, job)}," in log.read_text()
        assert "Starting with JobEnvironment" in log.read_text()


def csv_rows(folder: Path):
    import csv

    with open(folder / "summary.csv", newline="") as handle:
        yield from csv.DictReader(handle)


def test_a_failed_job_is_recorded_as_failed(sweep):
    _, err, folder, _ = sweep
    recorded = status(folder / "2")
    assert recorded["status"] == "failed"
    assert re.search(r"nan|inf|finite", recorded["error"], re.IGNORECASE), recorded


def test_a_requeued_job_continues_from_its_checkpoint_to_the_same_weights(sweep, slurm_cluster):
    _, _, folder, job_id = sweep
    shown = slurm_cluster.run("scontrol", "show", "job", job_id).stdout
    assert "Restarts=1" in shown, shown
    log = (folder / "1" / "train.log").read_text()
    assert re.search(r"SIGTERM at step \d+ \(epoch \d\): saved .*interrupted.ckpt", log)
    assert "continuing from this job's own checkpoint" in log
    assert status(folder / "1")["status"] == "completed"
    straight, requeued = weights(folder / "0"), weights(folder / "1")
    assert straight.keys() == requeued.keys()
    for name in straight:
        assert torch.equal(straight[name], requeued[name]), f"{name} differs"
    assert (folder / "0/metrics.json").read_bytes() == (folder / "1/metrics.json").read_bytes()


def test_litlab_resume_submits_again_only_the_jobs_that_did_not_complete(sweep, slurm_cluster):
    _, _, folder, _ = sweep
    kept = {p: p.stat().st_mtime_ns for job in ("0", "1") for p in (folder / job).rglob("*")}
    arrays = {p for p in (folder / ".submitit").iterdir() if p.is_dir()}
    result = litlab("resume", str(folder), cwd=folder.parent)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out[-3000:]  # job 2 diverges again, and says so
    assert f"Resuming {folder}: 2 of 3 jobs completed; running 2" in out
    new = sorted({p for p in (folder / ".submitit").iterdir() if p.is_dir()} - arrays)
    assert len(new) == 1, (sorted(arrays), new)  # one more sbatch, for job 2
    new = new[0]
    assert "Starting with JobEnvironment" in next(new.glob("*_0_log.out")).read_text()
    assert {p: p.stat().st_mtime_ns for job in ("0", "1") for p in (folder / job).rglob("*")} \
        == kept  # fmt: skip
    assert status(folder / "2")["status"] == "failed"


def test_ddp_inside_one_slurm_job_gives_one_run_folder(slurm_cluster, tmp_path):
    proc = train("-m", *TINY, "data.passes_per_epoch=1", "trainer.max_epochs=2",
                 "trainer=ddp", "trainer.strategy=ddp", "trainer.accelerator=cpu",
                 "trainer.devices=2",
                 f"paths.log_dir={tmp_path}", cwd=tmp_path)  # fmt: skip
    code, out, err = finish(proc)
    assert code == 0, err[-3000:]
    folder = sweep_folder(tmp_path)
    assert "tasks_per_node=2" in err + out  # SLURM started the two processes
    task_logs = sorted((folder / ".submitit" / slurm_job(folder, 0)).glob("*_log.out"))
    assert len(task_logs) == 2
    assert "global_rank=1(2)" in task_logs[1].read_text()  # rank 1 of 2, by submitit
    folders = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert folders == ["0", "0-rank1"]  # one run folder; rank 1's log beside it (runs/ranks.py)
    assert [p.name for p in (folder / "0-rank1").iterdir()] == ["train.log"]
    assert status(folder / "0")["status"] == "completed"
    assert (folder / "0" / "checkpoints" / "last.ckpt").is_file()
    listed = litlab("runs", str(tmp_path), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "1 run: 1 completed" in listed.stdout, listed.stdout  # not a second, incomplete one


def test_a_request_no_node_can_meet_ends_in_one_error_line(slurm_cluster, tmp_path):
    proc = train("-m", *TINY, "hydra.launcher.cpus_per_task=64", f"paths.log_dir={tmp_path}",
                 cwd=tmp_path)  # fmt: skip
    code, out, err = finish(proc, timeout=300)
    ended = datetime.now()
    # from the launcher's line before sbatch (Hydra's log prints its time) to the error
    submitted = re.search(r"^\[([\d-]+ [\d:,]+)\]\[HYDRA\] SLURM sweep folder", out + err, re.M)
    assert submitted, out + err
    took = (ended - datetime.strptime(submitted.group(1), "%Y-%m-%d %H:%M:%S,%f")).total_seconds()
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2, err[-3000:]
    assert len(errors) == 1, err[-3000:]
    assert "PartitionConfig" in errors[0] and "cpus_per_task=64" in errors[0], errors
    assert f"{slurm_cluster.cpus} CPUs" in errors[0], errors
    assert took < 30, took  # not a silent wait
    left = slurm_cluster.run("squeue", "-h", "-o", "%i %T").stdout
    assert left.strip() == "", left  # the job was cancelled, not left pending
