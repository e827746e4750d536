"""One Optuna study on a real PostgreSQL server (tests/engines/postgres.py brings it up): two
sweeper processes share it within n_trials, each drawing its own parameters; `litlab resume`
continues one of their sweep folders; `optuna-dashboard postgresql://...` serves the study."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
import yaml
from omegaconf import OmegaConf
from sqlalchemy import create_engine, text

from litlab.errors import UserError
from litlab.sweeps.search.storage import StudyLock, lock_key, open_storage
from litlab.sweeps.search.workers import SWEEP_ATTR, WORKERS_ATTR, worker_seed
from tests.conftest import REPO, stop_server
from tests.engines.postgres import postgres_server  # noqa: F401  (the session fixture)
from tests.run_folder.test_tensorboard import free_port, get_json, poll

pytestmark = [pytest.mark.cluster, pytest.mark.xdist_group("postgres")]  # one worker: one engine

STUDY = "team"
# A polynomial trial of 10 steps (a few seconds, mostly Lightning's start): lr drawn by Optuna
SEARCH = ["experiment=polynomial", "hydra/sweeper=litlab_optuna", "data.passes_per_epoch=1",
          "trainer.max_epochs=1", "logger=none", "model.optimizer.lr=interval(0.0001,0.005)",
          "hydra.sweeper.direction=minimize", f"hydra.sweeper.study_name={STUDY}",
          "hydra/sweeper/litlab_optuna/storage@hydra.sweeper.storage=postgres"]  # fmt: skip


def search(url: str, sweep: Path, n_trials: int = 4) -> subprocess.Popen[str]:
    """`python train.py -m ...` on the shared study, as a user starts one worker."""
    return subprocess.Popen(
        [sys.executable, "train.py", "-m", *SEARCH, f"hydra.sweeper.storage.url={url}",
         f"hydra.sweeper.n_trials={n_trials}", f"hydra.sweep.dir={sweep}"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def shared(postgres_server, tmp_path_factory) -> tuple[str, Path, Path]:  # noqa: F811
    """Two workers started together on one study of 4 trials: (URL, sweep folder a, b)."""
    url = postgres_server.database("shared_study")
    root = tmp_path_factory.mktemp("workers")
    workers = [search(url, root / "a"), search(url, root / "b")]
    printed = [worker.communicate(timeout=400)[0] for worker in workers]
    for worker, output in zip(workers, printed, strict=True):
        assert worker.returncode == 0, output[-3000:]
    return url, root / "a", root / "b"


def jobs(sweep: Path) -> set[int]:
    return {int(p.name) for p in sweep.iterdir() if p.name.isdigit()}


@pytest.mark.slow  # two sweeper processes: run by .ci/run's `pytest -m "cluster and slow"`
def test_two_workers_share_the_study_within_n_trials_each_drawing_its_own(shared):
    url, a, b = shared
    study = optuna.load_study(study_name=STUDY, storage=url)
    trials = study.trials
    assert [t.number for t in trials] == [0, 1, 2, 3]  # four in all, not four each
    assert {t.state.name for t in trials} == {"COMPLETE"}
    assert jobs(a) and jobs(b), f"one worker ran every trial: a {jobs(a)}, b {jobs(b)}"
    assert jobs(a) | jobs(b) == {0, 1, 2, 3} and not jobs(a) & jobs(b)
    for trial in trials:  # its job folder is in the sweep folder it names
        sweep = Path(trial.user_attrs[SWEEP_ATTR])
        stored = sweep / str(trial.number) / ".hydra" / "overrides.yaml"
        overrides = yaml.safe_load(stored.read_text())
        assert f"model.optimizer.lr={trial.params['model.optimizer.lr']}" in overrides
    lrs = [t.params["model.optimizer.lr"] for t in trials]
    assert len(set(lrs)) == 4  # one sampler seed each: the workers' first draws differ
    assert study._storage.get_study_system_attrs(study._study_id)[WORKERS_ATTR] == 2


def test_worker_seeds_come_from_the_seed_and_worker_zero_keeps_it():
    assert worker_seed(42, 0) == 42  # one worker draws as a search always did
    seeds = {worker_seed(42, w) for w in range(1, 5)} | {worker_seed(43, w) for w in range(4)}
    assert len(seeds) == 8 and 43 in seeds
    assert worker_seed(42, 1) == worker_seed(42, 1)


def test_the_count_and_ask_lock_is_held_in_the_database(postgres_server, tmp_path):  # noqa: F811
    """While one sweeper holds it, no other connection (another process, machine) gets it."""
    url = postgres_server.url
    lock = StudyLock(OmegaConf.create({"_target_": "optuna.storages.RDBStorage", "url": url}),
                     "locked", tmp_path)  # fmt: skip
    other = create_engine(url)

    def try_lock() -> bool:
        with other.connect() as connection:
            got = connection.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                     {"k": lock_key("locked")}).scalar()  # fmt: skip
            if got:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key("locked")})
            return bool(got)

    with lock():
        assert not try_lock()
        waited = []
        waiter = threading.Thread(target=lambda: waited.append(_timed(lock)))
        waiter.start()
        time.sleep(0.5)
        assert waiter.is_alive()  # a second sweeper waits its turn
    waiter.join(timeout=10)
    assert waited and waited[0] >= 0.4
    assert try_lock()
    other.dispose()


def _timed(lock: StudyLock) -> float:
    start = time.monotonic()
    with lock():
        return time.monotonic() - start


def test_sqlite_engine_arguments_on_a_server_url_are_refused_naming_the_fix():
    config = OmegaConf.create({"_target_": "optuna.storages.RDBStorage",
                               "url": "postgresql://u@127.0.0.1:1/db",
                               "engine_kwargs": {"connect_args": {"timeout": 60}}})  # fmt: skip
    with pytest.raises(UserError, match=r"storage@hydra.sweeper.storage=postgres"):
        open_storage(config)


@pytest.mark.slow
def test_resume_of_one_worker_leaves_the_other_workers_running_trial_alone(shared):
    url, a, b = shared
    study = optuna.load_study(study_name=STUDY, storage=url)
    elsewhere = study.ask()  # trial 4: running now in worker b's folder
    elsewhere.set_user_attr(SWEEP_ATTR, str(b.resolve()))
    result = subprocess.run(
        [sys.executable, "-m", "litlab", "resume", str(a), "hydra.sweeper.n_trials=6"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    trials = optuna.load_study(study_name=STUDY, storage=url).trials
    assert [t.state.name for t in trials][4:] == ["RUNNING", "COMPLETE"]
    assert 4 not in jobs(a) and 5 in jobs(a)  # the new trial in the resumed folder
    status = json.loads((a / "5" / "status.json").read_text())
    assert status["status"] == "completed"
    assert trials[5].user_attrs[SWEEP_ATTR] == str(a.resolve())


@pytest.mark.slow
def test_optuna_dashboard_serves_the_study_from_postgresql(shared):
    url = shared[0]
    port = free_port()
    script = (  # what the optuna-dashboard command runs, wherever pip put the command
        "import sys; from importlib.metadata import entry_points; "
        "sys.exit(entry_points(group='console_scripts', name='optuna-dashboard')[0].load()())"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, url, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        studies = poll(lambda: get_json(f"{base}/api/studies"),
                       lambda found: bool(found.get("study_summaries")))  # fmt: skip
        assert studies, f"no studies served: {process.stderr.read1().decode()[-2000:]}"
        [served] = [s for s in studies["study_summaries"] if s["study_name"] == STUDY]
        with urllib.request.urlopen(f"{base}/api/studies/{served['study_id']}", timeout=10) as r:
            detail = json.loads(r.read())
        expected = {t.number: t.state.name for t in optuna.load_study(
            study_name=STUDY, storage=url).trials}  # fmt: skip
        assert {t["number"]: t["state"].upper() for t in detail["trials"]} == expected
    finally:
        stop_server(process)
