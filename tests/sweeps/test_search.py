"""litlab's Optuna search (litlab.sweeps.search): the search space, pruning, two workers on one
study, and Optuna's dashboard on a finished search."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from litlab.errors import ConfigValueError
from litlab.sweeps.search.space import search_space
from tests.conftest import DATA_DIR, run_train, stop_server
from tests.run_folder.test_tensorboard import free_port, get_json, poll


def test_the_search_space_is_the_hydra_sweeps_as_optuna_distributions():
    params = {"lr": "tag(log, interval(1e-4, 1e-2))", "width": "choice(128, 256)",
              "layers": "range(1, 7, 2)", "dropout": "interval(0, 0.5)"}  # fmt: skip
    space, fixed = search_space(params, ["width=64", "act=relu,tanh", "trainer.max_epochs=3"])
    assert space == {
        "lr": FloatDistribution(1e-4, 1e-2, log=True),
        "layers": IntDistribution(1, 5, step=2),
        "dropout": FloatDistribution(0.0, 0.5),
        "act": CategoricalDistribution(["relu", "tanh"]),
    }  # width: the command line's fixed value wins over the config's choice
    assert fixed == ["width=64", "trainer.max_epochs=3"]


def test_a_sweep_optuna_cannot_draw_names_its_key():
    with pytest.raises(ConfigValueError, match=r"^lr='shuffle\(1,2\)' is invalid: an Optuna"):
        search_space({"lr": "shuffle(1,2)"}, [])


def test_the_pruning_callback_reports_each_epoch_and_the_run_ends_pruned(make_cfg, monkeypatch):
    """In-process: the callback as a search's job runs it, on a trial whose pruner stops it."""
    from litlab.run import run
    from litlab.run_folder.status import recording_status
    from litlab.sweeps.search import pruning

    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(
        lower=0.5, n_warmup_steps=1))  # fmt: skip
    trial = study.ask()
    monkeypatch.setattr(pruning, "current_trial", lambda: trial)  # what a job of a search finds
    cfg = make_cfg("hparams_search=fashion_optuna", *TINY[1:4], "trainer.max_epochs=3",
                   "model.optimizer.lr=0.000001", "logger=none")  # fmt: skip
    with pytest.raises(optuna.TrialPruned), recording_status(cfg.paths.output_dir):
        run(cfg)
    status = json.loads((Path(cfg.paths.output_dir) / "status.json").read_text())
    assert status["status"] == "pruned"
    assert status["error"].startswith("pruned at epoch 1: val/acc=")
    assert list(study.trials[0].intermediate_values) == [0, 1]  # epoch 0 is the warm-up


# -- one small search: 2 workers (joblib), 6 trials, a journal file, a pruner --------------------
# slow: two worker processes each import torch and Lightning; 3 minutes on a busy 2-core machine

TINY = ["trainer.max_epochs=2", "trainer.limit_train_batches=2", "trainer.limit_val_batches=2",
        "trainer.limit_test_batches=1", "logger=none", "hidden_size=64", "data.batch_size=64",
        "model.net.dropout=0.0"]  # fmt: skip
# lr=1e-6 learns nothing in 16 steps (val/acc stays near chance, 0.1), lr=2e-3 gets past 0.6:
# the threshold pruner stops the first kind after epoch 0
WORKERS = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweeper.n_jobs=2",
           "hydra.sweeper.n_trials=6", "model.optimizer.lr=choice(0.002,0.000001)",
           "hydra/sweeper/litlab_optuna/storage@hydra.sweeper.storage=journal",
           "hydra/sweeper/litlab_optuna/pruner@hydra.sweeper.pruner=threshold",
           "hydra.sweeper.pruner.lower=0.4"]  # fmt: skip


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> tuple[Path, str]:
    """The search's folder and what it printed."""
    log_dir = tmp_path_factory.mktemp("search")
    result = run_train("-m", "hparams_search=fashion_optuna", *TINY, *WORKERS,
                       f"paths.data_dir={DATA_DIR}", f"paths.log_dir={log_dir}")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = log_dir.glob("multirun/*/*/*")
    return sweep, result.stdout + result.stderr


@pytest.fixture(scope="module")
def search(searched) -> Path:
    return searched[0]


def journal_study(sweep: Path) -> optuna.Study:
    backend = optuna.storages.journal.JournalFileBackend(str(sweep / "optuna.journal"))
    return optuna.load_study(
        study_name="fashion_mlp", storage=optuna.storages.JournalStorage(backend)
    )


def job_status(folder: Path) -> dict:
    return json.loads((folder / "status.json").read_text())


@pytest.mark.slow
def test_two_workers_finish_the_study_with_each_trial_recorded_once(search):
    trials = journal_study(search).trials
    assert [t.number for t in trials] == list(range(6))  # none lost, none twice, none extra
    assert {t.state.name for t in trials} <= {"COMPLETE", "PRUNED"}
    assert sorted(p.name for p in search.iterdir() if p.name.isdigit()) == list("012345")
    for trial in trials:  # job folder n holds trial n
        folder = search / str(trial.number)
        overrides = yaml.safe_load((folder / ".hydra" / "overrides.yaml").read_text())
        assert f"model.optimizer.lr={trial.params['model.optimizer.lr']}" in overrides
    times = [job_status(search / str(n)) for n in range(6)]
    overlapping = [a for a, b in zip(times[::2], times[1::2], strict=True)
                   if a["started"] < b["finished"] and b["started"] < a["finished"]]  # fmt: skip
    assert overlapping, "no two trials ran at the same time"
    assert len({t["pid"] for t in times}) >= 2  # in worker processes, not one after the other


@pytest.mark.slow
def test_a_hopeless_trial_is_pruned_and_recorded_as_pruned(search):
    trials = journal_study(search).trials
    for trial in trials:
        folder, lr = search / str(trial.number), trial.params["model.optimizer.lr"]
        status = job_status(folder)
        if lr < 1e-5:  # stopped after its first epoch, reported to the study
            assert trial.state.name == "PRUNED" and status["status"] == "pruned"
            assert list(trial.intermediate_values) == [0]
            assert status["error"].startswith("pruned at epoch 0: val/acc=")
            assert not (folder / "metrics.json").exists()
        else:  # both epochs reported; the value told is the job's val/acc
            assert trial.state.name == "COMPLETE" and status["status"] == "completed"
            assert list(trial.intermediate_values) == [0, 1]
            metrics = json.loads((folder / "metrics.json").read_text())
            assert trial.value == pytest.approx(metrics["val/acc"]) and trial.value > 0.4
    assert {t.state.name for t in trials} == {"COMPLETE", "PRUNED"}  # the seed draws both
    summary = (search / "summary.md").read_text()
    pruned = sum(t.state.name == "PRUNED" for t in trials)
    assert f"{6 - pruned} completed, {pruned} pruned" in summary
    best = yaml.safe_load((search / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(max(t.value or 0 for t in trials))


@pytest.mark.slow
def test_parallel_jobs_print_one_line_per_epoch_instead_of_progress_bars(searched):
    sweep, printed = searched
    completed = [n for n in range(6) if job_status(sweep / str(n))["status"] == "completed"]
    for number in completed:
        assert re.search(rf"^\[job {number}\] epoch 1/2  .*val/acc 0\.\d{{4}}$", printed, re.M)
        assert re.search(rf"^\[job {number}\] epoch 2/2  train/loss ", printed, re.M)
    assert "\r" not in printed  # no bar redrawn over its line (tqdm's "Epoch 0: ...\r")


@pytest.mark.slow
def test_optuna_dashboard_serves_the_finished_search(search):
    """The real `optuna-dashboard <journal file>`, on loopback; its trials over HTTP."""
    port = free_port()
    script = (  # what the optuna-dashboard command runs, wherever pip put the command
        "import sys; from importlib.metadata import entry_points; "
        "sys.exit(entry_points(group='console_scripts', name='optuna-dashboard')[0].load()())"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(search / "optuna.journal"),
         "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        studies = poll(
            lambda: get_json(f"{base}/api/studies"),
            lambda found: bool(found.get("study_summaries")),
        )
        assert studies, f"no studies served: {process.stderr.read1().decode()[-2000:]}"
        [study] = studies["study_summaries"]
        assert study["study_name"] == "fashion_mlp"
        with urllib.request.urlopen(f"{base}/api/studies/{study['study_id']}", timeout=10) as r:
            detail = json.loads(r.read())
        served = {t["number"]: t["state"] for t in detail["trials"]}
        expected = {t.number: t.state.name for t in journal_study(search).trials}
        assert {n: s.upper() for n, s in served.items()} == expected
    finally:
        stop_server(process)
