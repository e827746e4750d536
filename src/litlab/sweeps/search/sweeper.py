"""A Hydra sweeper on Optuna's ask-and-tell API: ask the study for up to ``n_jobs`` trials,
launch them as one batch through Hydra's launcher (basic: one after the other; joblib: in
parallel processes; submitit: cluster jobs), tell the study how each ended, until the study
holds ``n_trials`` trials. Job number = trial number, so job folder ``7`` is trial 7.

How a job ended is read from its folder's status.json (``litlab.run_folder.status``): completed ->
its value, ``pruned`` -> PRUNED (``litlab.sweeps.search.pruning``), anything else -> FAIL."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
import yaml
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from optuna.trial import TrialState

from litlab.errors import UserError, exit_for_user_error
from litlab.run_folder.status import COMPLETED, PRUNED, read_status
from litlab.sweeps.search.space import search_space
from litlab.sweeps.search.storage import StudyLock, open_storage
from litlab.sweeps.search.workers import SWEEP_ATTR, join, worker_sampler

log = logging.getLogger(__name__)
RESULTS_FILE = "optimization_results.yaml"


def job_overrides(trial: optuna.trial.BaseTrial, fixed: Sequence[str]) -> list[str]:
    """A trial's job overrides: its drawn values, then the ones every trial gets."""
    return [f"{name}={value}" for name, value in trial.params.items()] + list(fixed)


def ending(result: JobReturn) -> tuple[TrialState, float | None]:
    """How the study records a finished job: (state, value)."""
    if result.status != JobStatus.COMPLETED:  # the job raised past litlab's recording
        return TrialState.FAIL, None
    status = read_status(result.hydra_cfg.hydra.runtime.output_dir).status  # type: ignore[union-attr]
    value = result.return_value
    if status == COMPLETED and value is not None and math.isfinite(value):
        return TrialState.COMPLETE, float(value)
    return (TrialState.PRUNED if status == PRUNED else TrialState.FAIL), None


class OptunaSweeper(Sweeper):
    """``hydra/sweeper=litlab_optuna`` (conf/hydra/sweeper/). ``sampler``, ``pruner`` and
    ``storage`` arrive as configs (``_recursive_: false``) and are built here."""

    # set in setup() before any other call (Hydra's Sweeper types them Optional)
    hydra_context: HydraContext
    config: DictConfig
    launcher: Any

    def __init__(self, study_name: str, direction: str, n_trials: int, n_jobs: int = 1,
                 params: DictConfig | None = None, sampler: DictConfig | None = None,
                 pruner: DictConfig | None = None, storage: Any = None) -> None:  # fmt: skip
        if n_jobs < 1:
            raise UserError(f"hydra.sweeper.n_jobs={n_jobs!r} is invalid: trials at once, >= 1")
        self.study_name, self.direction = study_name, direction
        self.n_trials, self.n_jobs = n_trials, n_jobs
        self.params = OmegaConf.to_container(params) if params else {}
        self.sampler_config, self.pruner_config, self.storage_config = sampler, pruner, storage

    def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.sweep_dir = Path(str(config.hydra.sweep.dir))
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def open_study(self) -> optuna.Study:
        """The study in its storage, created by the first sweeper that opens it; this sweeper
        joins it as a worker with a sampler seed of its own (``litlab.sweeps.search.workers``)."""
        self.sweep_dir.mkdir(parents=True, exist_ok=True)  # SQLite's file goes into it
        self.lock = StudyLock(self.storage_config, self.study_name, self.sweep_dir)
        with self.lock():  # one creator (of the tables too); workers counted one at a time
            storage = open_storage(self.storage_config)
            study = optuna.create_study(
                study_name=self.study_name, storage=storage, direction=self.direction,  # type: ignore[arg-type]
                load_if_exists=True,
                pruner=instantiate(self.pruner_config) if self.pruner_config else None,
            )  # fmt: skip
            self.worker = join(study) if storage is not None else 0
        study.sampler = worker_sampler(self.sampler_config, self.worker) or study.sampler
        if self.worker:
            log.info(f"worker {self.worker} of the study {self.study_name}: its own sampler seed")
        return study

    def sweep(self, arguments: list[str]) -> None:
        try:
            self.space, self.fixed = search_space(self.params, arguments)  # type: ignore[arg-type]
            study = self.open_study()
            self.before_search(study)
        except UserError as error:
            exit_for_user_error(error)
        while True:
            with self.lock():  # count and ask as one step, for every sweeper: never past n_trials
                left = self.n_trials - len(study.get_trials(deepcopy=False))
                trials = [study.ask(self.space) for _ in range(min(self.n_jobs, left))]
            if not trials:
                break
            for trial in trials:  # where its job folder is, for a resume and for the dashboard
                trial.set_user_attr(SWEEP_ATTR, str(self.sweep_dir.resolve()))
            self.run_trials(study, trials, [job_overrides(t, self.fixed) for t in trials])
        self.write_results(study)

    def before_search(self, study: optuna.Study) -> None:
        """A resumed search re-runs its interrupted trials here (``litlab.sweeps.resume``)."""

    def run_trials(self, study: optuna.Study, trials: Sequence[Any], jobs: list[list[str]]) -> None:
        """Launch one job per trial (numbered as the trials), then tell the study each ending.
        A Ctrl-C or SIGTERM passes through and leaves the batch's trials RUNNING: resumable."""
        for start in range(len(trials)):  # a run of consecutive numbers (the lock sees to it)
            assert trials[start].number == trials[0].number + start, "trials not consecutive"
        returns = self.launcher.launch(jobs, initial_job_idx=trials[0].number)
        for trial, result in zip(trials, returns, strict=True):
            state, value = ending(result)
            study.tell(trial.number, value, state=state)
            log.info(f"trial {trial.number}: {state.name}" + (f" {value:.6g}" if value else ""))

    def write_results(self, study: optuna.Study) -> None:
        """``optimization_results.yaml`` in the sweep folder: the best trial's values."""
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not done:
            log.warning("no trial completed: no best parameters")
            return
        best = study.best_trial
        results = {"name": "optuna", "best_params": best.params, "best_value": best.value,
                   "best_trial": best.number}  # fmt: skip
        (self.sweep_dir / RESULTS_FILE).write_text(yaml.safe_dump(results, sort_keys=False))
        log.info(f"Best trial {best.number}: {best.value:.6g} with {best.params}")
