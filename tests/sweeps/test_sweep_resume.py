"""``litlab resume <sweep folder>``: a multirun stopped part way is finished in its own folder."""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import lightning  # noqa: F401 - imported now, its log handlers keep the real stderr, not capsys's
import pytest
import torch
import yaml
from omegaconf import OmegaConf

from litlab.cli import main as litlab_main
from litlab.run_folder.sweep_job import run_recorded
from tests.conftest import DATA_DIR, REPO, run_train

# Jobs 0 and 2 (and 1 and 3) are the same job: job 2, stopped and resumed, is compared with job 0.
POLYNOMIAL_SWEEP = ["experiment=polynomial", "logger=none", "seed=1,2,1,2"]


def litlab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "litlab", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600)  # fmt: skip


def start_sweep(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "train.py", "-m", *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def wait_for(log_dir: Path, pattern: str, proc: subprocess.Popen[str]) -> Path:
    """The first file matching ``<log_dir>/multirun/*/*/*/<pattern>``, once it is complete."""
    deadline = time.monotonic() + 300
    while True:
        found = [p for p in log_dir.glob(f"multirun/*/*/*/{pattern}") if p.stat().st_size]
        if found and (found[0].suffix != ".ckpt" or zipfile.is_zipfile(found[0])):
            return found[0]
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, f"no {pattern} after 300 s"
        time.sleep(0.05)


def statuses(sweep: Path) -> dict[str, str | None]:
    jobs = sorted((p for p in sweep.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    return {
        job.name: json.loads((job / "status.json").read_text())["status"]
        if (job / "status.json").is_file()
        else None
        for job in jobs
    }


def files(folder: Path) -> dict[Path, tuple[int, bytes]]:
    """Every file below ``folder``, with its modification time and bytes."""
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.rglob("*") if p.is_file()}


def weights(job: Path) -> dict[str, torch.Tensor]:
    return torch.load(job / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def assert_same_job(a: Path, b: Path) -> None:
    """Two job folders ended with the same weights, bit for bit, and the same metrics."""
    first, second = weights(a), weights(b)
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), f"{name} differs"
    assert (a / "metrics.json").read_bytes() == (b / "metrics.json").read_bytes()


def summary_rows(sweep: Path) -> list[tuple[str, str]]:
    with (sweep / "summary.csv").open() as handle:
        return [(row["job"], row["status"]) for row in csv.DictReader(handle)]


@pytest.mark.slow
def test_a_sweep_killed_during_its_third_job_is_finished_bit_for_bit(tmp_path):
    # epochs of 100 steps; killed outright (no interrupted.ckpt) after job 2 saved epoch 0's end
    proc = start_sweep(*POLYNOMIAL_SWEEP, "data.passes_per_epoch=10", "trainer.max_epochs=30",
                       f"paths.log_dir={tmp_path}")  # fmt: skip
    last = wait_for(tmp_path, "2/checkpoints/last.ckpt", proc)
    proc.kill()
    proc.communicate()
    sweep = last.parents[2]
    # job 2 still says running (its process was killed); job 3 never started
    assert statuses(sweep) == {"0": "completed", "1": "completed", "2": "running"}
    kept = files(sweep / "0") | files(sweep / "1")

    result = litlab("resume", str(sweep))
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout + result.stderr
    assert f"Resuming {sweep}: 2 of 4 jobs completed; running 2, 3" in out
    assert f"continuing from this job's own checkpoint {sweep}/2/checkpoints/last.ckpt" in out
    assert files(sweep / "0") | files(sweep / "1") == kept  # completed jobs: not run again
    assert statuses(sweep) == dict.fromkeys("0123", "completed")
    assert summary_rows(sweep) == [(job, "completed") for job in "0123"]
    assert "4 jobs: 4 completed." in (sweep / "summary.md").read_text()
    assert_same_job(sweep / "2", sweep / "0")  # resumed = uninterrupted, bit for bit

    again = litlab("resume", str(sweep))  # nothing left to run
    assert again.returncode == 0, again.stderr[-3000:]
    assert "4 of 4 jobs completed; running none" in again.stdout + again.stderr


@pytest.mark.slow
def test_a_sweep_stopped_by_sigterm_in_its_third_job_is_finished_bit_for_bit(tmp_path):
    # epochs of 1000 steps (the experiment's own); SIGTERM after job 2 saved epoch 0's end, so
    # that it stops inside epoch 1 and saves interrupted.ckpt there
    proc = start_sweep(*POLYNOMIAL_SWEEP, "trainer.max_epochs=3", f"paths.log_dir={tmp_path}")
    last = wait_for(tmp_path, "2/checkpoints/last.ckpt", proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    sweep = last.parents[2]
    assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
    assert f"finish the sweep with: litlab resume {sweep}" in err
    interrupted = sweep / "2" / "checkpoints" / "interrupted.ckpt"
    loops = torch.load(interrupted, weights_only=True)["loops"]["fit_loop"]["state_dict"]
    (order,) = loops.get("combined_loader", [{}])  # the training loader's (Lightning's protocol)
    if "calls_done" not in order:  # the loader saves its position only inside an epoch
        pytest.skip("SIGTERM arrived at an epoch's end, not inside one")
    assert statuses(sweep) == {"0": "completed", "1": "completed", "2": "interrupted"}

    result = litlab("resume", str(sweep))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"continuing from this job's own checkpoint {interrupted}" in result.stdout
    assert statuses(sweep) == dict.fromkeys("0123", "completed")
    assert summary_rows(sweep) == [(job, "completed") for job in "0123"]
    steps = [
        torch.load(sweep / j / "checkpoints/last.ckpt", weights_only=True)["global_step"]
        for j in "02"
    ]
    assert steps == [3000, 3000]
    assert_same_job(sweep / "2", sweep / "0")  # the epoch's order and position resumed too


@pytest.mark.slow
def test_an_optuna_search_stopped_during_a_trial_continues_its_study(tmp_path):
    import optuna

    short = ["trainer.max_epochs=1", "trainer.limit_train_batches=10", "logger=none",
             "trainer.limit_val_batches=5", "trainer.limit_test_batches=5"]  # fmt: skip
    proc = start_sweep("hparams_search=fashion_optuna", "hydra.sweeper.n_trials=3", *short,
                       f"paths.data_dir={DATA_DIR}", f"paths.log_dir={tmp_path}")  # fmt: skip
    wait_for(tmp_path, "1/.hydra/overrides.yaml", proc)  # trial 1 started
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    sweep = next(tmp_path.glob("multirun/*/*/*"))
    storage = f"sqlite:///{sweep}/optuna.db"  # the study lives in the sweep folder
    before = optuna.load_study(study_name="fashion_mlp", storage=storage).trials
    assert [t.state.name for t in before] == ["COMPLETE", "RUNNING"]
    kept = files(sweep / "0")

    result = litlab("resume", str(sweep))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Resuming the study fashion_mlp: 2 trials, of which 1 interrupted; 3 in all" in (
        result.stdout
    )
    trials = optuna.load_study(study_name="fashion_mlp", storage=storage).trials
    assert [(t.number, t.state.name) for t in trials] == [(n, "COMPLETE") for n in range(3)]
    assert trials[1].params == before[1].params  # the interrupted trial ran again, as it was
    assert files(sweep / "0") == kept
    assert statuses(sweep) == dict.fromkeys("012", "completed")
    for trial in trials:  # each job folder holds its trial, and the value told to the study
        metrics = json.loads((sweep / str(trial.number) / "metrics.json").read_text())
        assert trial.value == pytest.approx(metrics["val/acc"])
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(max(t.value for t in trials))


def test_sigterm_stops_a_sweep_with_exit_code_143_and_says_how_to_finish_it(tmp_path):
    proc = start_sweep("experiment=polynomial", "logger=none", "data.passes_per_epoch=1",
                       "trainer.max_epochs=800", "seed=1,2",
                       f"paths.log_dir={tmp_path}")  # fmt: skip
    last = wait_for(tmp_path, "0/checkpoints/last.ckpt", proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    sweep = last.parents[2]
    assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]  # it was 0 before
    assert f"finish the sweep with: litlab resume {sweep}" in err
    assert (sweep / "0" / "checkpoints" / "interrupted.ckpt").is_file()
    assert statuses(sweep) == {"0": "interrupted"}  # job 1 never started


# -- the checks, on a small finished sweep -------------------------------------------------------


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory) -> Path:
    log_dir = tmp_path_factory.mktemp("sweep")
    result = run_train("-m", "experiment=polynomial", "data.passes_per_epoch=1", "logger=none",
                       "trainer.max_epochs=1", "seed=1,2", f"paths.log_dir={log_dir}")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return next(log_dir.glob("multirun/*/*/*"))


def test_a_new_sweep_never_writes_into_a_sweep_folder(small_sweep):
    before = files(small_sweep)
    result = run_train("-m", "experiment=polynomial", "seed=5,6", f"hydra.sweep.dir={small_sweep}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: hydra.sweep.dir='{small_sweep}' already holds a sweep; a new sweep never writes "
        f"into one. Finish that sweep with: litlab resume {small_sweep}"
    )
    assert files(small_sweep) == before


def test_the_sweep_records_its_command_line_for_resume(small_sweep, capsys):
    assert litlab_main(["resume", str(small_sweep), "--dry-run"]) == 0
    assert capsys.readouterr().out.strip() == (
        "python train.py -m experiment=polynomial data.passes_per_epoch=1 logger=none "
        f"trainer.max_epochs=1 seed=1,2 paths.log_dir={small_sweep.parents[3]} "
        f"hydra.sweep.dir={small_sweep} "
        "hydra.sweeper._target_=hydra_plugins.litlab_resume.ResumeBasicSweeper"
    )


@pytest.mark.parametrize(
    ("hydra_override", "override", "message"),
    [
        (None, "trainer.max_epochs=5", "'trainer.max_epochs=5': a resumed sweep runs its jobs as"),
        ("hydra.job.env_set.LD_PRELOAD=/tmp/x.so", None, "is not carried into a resume"),
        ("hydra.launcher.setup=[echo]", None, "is not taken from a stored sweep"),
        ("+hydra.callbacks.x._target_=os.system", None, "is not carried into a resume"),
    ],
)
def test_resume_changes_nothing_but_the_launcher(small_sweep, tmp_path, capsys, hydra_override,
                                                 override, message):  # fmt: skip
    sweep = tmp_path / "sweep"
    shutil.copytree(small_sweep, sweep)
    if hydra_override:
        record = OmegaConf.load(sweep / "multirun.yaml")
        record.hydra.overrides.hydra.append(hydra_override)
        OmegaConf.save(record, sweep / "multirun.yaml")
    assert litlab_main(["resume", str(sweep), *([override] if override else [])]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("drift", "conf/ now composes job 0 differently from"),
        ("foreign", "not this sweep's job 1"),
        ("target", "callbacks.evil._target_='os.system' is not allowed"),
    ],
)
def test_resume_stops_before_any_work_on_a_folder_it_cannot_trust(small_sweep, tmp_path, change,
                                                                  message):  # fmt: skip
    sweep = tmp_path / "sweep"
    shutil.copytree(small_sweep, sweep)
    (sweep / "1" / "status.json").unlink()  # job 1 would run
    if change == "drift":  # as if conf/ had another default since the sweep ran
        config = OmegaConf.load(sweep / "0" / ".hydra" / "config.yaml")
        config.data.num_points = 1000
        OmegaConf.save(config, sweep / "0" / ".hydra" / "config.yaml")
    elif change == "foreign":  # a job folder of another sweep
        overrides = sweep / "1" / ".hydra" / "overrides.yaml"
        overrides.write_text(overrides.read_text().replace("seed=2", "seed=5"))
    else:
        record = OmegaConf.load(sweep / "multirun.yaml")
        record.hydra.overrides.task.append("+callbacks.evil._target_=os.system")
        OmegaConf.save(record, sweep / "multirun.yaml")
    before = files(sweep)
    result = litlab("resume", str(sweep))
    assert result.returncode == 2, result.stderr[-3000:]
    assert message in result.stderr.strip().splitlines()[-1]
    assert files(sweep) == before


def test_a_job_starting_in_its_own_folder_continues_from_its_checkpoint(make_cfg, tmp_path):
    """What a requeued cluster job (or a resumed sweep) does: no ckpt_path, a checkpoint there."""
    seen = []

    def task(cfg):
        seen.append(cfg.ckpt_path)
        return 1.0

    cfg = make_cfg("experiment=polynomial", "logger=none")
    run_recorded(cfg, task)  # a new folder: from scratch
    checkpoints = tmp_path / "run" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save({"state_dict": {}, "global_step": 20}, checkpoints / "last.ckpt")
    torch.save({"state_dict": {}, "global_step": 25}, checkpoints / "interrupted.ckpt")
    run_recorded(make_cfg("experiment=polynomial", "logger=none"), task)
    given = tmp_path / "other.ckpt"
    run_recorded(make_cfg("experiment=polynomial", f"ckpt_path={given}"), task)  # as given
    assert seen == [None, str(checkpoints / "interrupted.ckpt"), str(given)]
