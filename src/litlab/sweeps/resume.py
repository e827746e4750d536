"""Finish a multirun in its own folder: ``litlab resume <sweep folder>``.

The sweep is launched again from its record (``multirun.yaml``: the command line's overrides and
Hydra's), into the same folder, with a resume sweeper in place of its own:

- ``ResumeBasicSweeper`` (a grid): the jobs are numbered as Hydra's basic sweeper numbers them;
  jobs whose folder says ``completed`` are not launched again, the others are launched under their
  own numbers, into their own folders.
- ``ResumeOptunaSweeper``: the study (in the sweep folder, or wherever ``hydra.sweeper.storage``
  keeps it) is loaded; trials of this sweep folder that were running when the sweep stopped
  (and whose job is not running now; on a shared study another sweeper's trials are its own)
  run again in their own folders and are told to the study; then the search goes on toward
  ``n_trials`` in all.

A job that starts in a folder holding its own checkpoint continues from it (``sweep_job``): the
same mechanism lets a requeued cluster job continue. Before anything runs, every job folder is
checked to hold that job (same overrides, and the config conf/ composes for them), and every
config to be built is checked for ``_target_``s that neither litlab nor the search path in force
(conf/, and the config folders ``litlab.run_folder.sources`` trusts or ``--config-dir`` names) name.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.errors import HydraException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from litlab.errors import UserError, exit_for_user_error
from litlab.run_folder.folder import RESUME_SWEEPERS, find_jobs, parse_overrides, read_sweep_record
from litlab.run_folder.sources import config_dirs_in_force
from litlab.run_folder.status import COMPLETED, RUNNING, read_status
from litlab.run_folder.stored_config import (
    SWEEP_RECORD,
    as_data,
    check_targets,
    differences,
    path_value,
    read_run,
    search_path,
    target_problem,
)

log = logging.getLogger(__name__)

# Hydra overrides of the sweep that the resume sets itself, or that a multirun does not use.
# (The search path: the folder's trusted sources, or --config-dir, give it again.)
REPLACED = ("hydra.mode", "hydra.sweep.dir", "hydra.run.dir", "hydra.sweeper._target_",
            "hydra.searchpath")  # fmt: skip
# Settings that run shell lines or a named function: never taken from a stored sweep.
REFUSED = ("hydra.launcher.setup", "hydra.sweeper.custom_search_space")


def _key(override: str) -> tuple[str, Any]:
    parsed = OverridesParser.create().parse_override(override)
    return parsed.key_or_group.replace("/", "."), parsed


def _under(key: str, prefixes: Sequence[str]) -> bool:
    return any(key == prefix or key.startswith(prefix + ".") for prefix in prefixes)


def config_dirs(config: DictConfig) -> list[Path]:
    """The config folders on the search path in force (conf/ aside): the resume's own
    (``sweep_overrides`` put them there, trusted), which may name ``_target_``s."""
    return [Path(path) for path in config_dirs_in_force(config.hydra)]


def carried_hydra_override(override: str, dirs: Sequence[Path] = ()) -> bool:
    """Whether one of the sweep's own Hydra overrides comes along; raises if it is not allowed."""
    key, parsed = _key(override)
    if _under(key, REPLACED):
        return False
    if _under(key, REFUSED):
        raise UserError(f"the sweep's {override!r} is not taken from a stored sweep: pass it again")
    if "/" in parsed.key_or_group:  # a config group choice: a file of an installed plugin
        return True
    if not _under(key, ("hydra.launcher", "hydra.sweeper")):
        raise UserError(
            f"the sweep's {override!r} is not carried into a resume (only hydra/launcher, "
            "hydra/sweeper and their settings are)"
        )
    problem = target_problem(key, parsed.value(), dirs) if key.endswith("_target_") else None
    if problem:
        raise UserError(f"{key}={parsed.value()!r} is not allowed: {problem}")
    return True


# A sweep's job folders as conf/hydra/default.yaml names them, now and before ranks had folders.
NUMBERED_SUBDIRS = ("${litlab.rank_folder:${hydra.job.num}}", "${hydra.job.num}")


def sweep_overrides(sweep_dir: Path, new: Sequence[str], dirs: Sequence[Path] = ()) -> list[str]:
    """train.py's arguments that finish the sweep in ``sweep_dir``, its config folders ``dirs``
    on the search path; ``new`` may change only the launcher (``hydra/launcher=...``,
    ``hydra.launcher.*``) and ``hydra.sweeper.n_trials``."""
    if not (sweep_dir / SWEEP_RECORD).is_file():
        raise UserError(
            f"{sweep_dir} holds no {SWEEP_RECORD}: not a sweep folder litlab can resume"
        )
    master = read_sweep_record(sweep_dir)
    sweeper = master["sweeper"].get("_target_")
    if sweeper not in RESUME_SWEEPERS:
        raise UserError(f"cannot resume a sweep by {sweeper}: only the basic and Optuna sweepers")
    if master["sweep"].get("subdir") not in NUMBERED_SUBDIRS:
        raise UserError(f"cannot resume a sweep whose jobs are not numbered folders: "
                        f"hydra.sweep.subdir={master['sweep'].get('subdir')!r}")  # fmt: skip
    for override in new:
        key, _ = _key(override)
        if not _under(key, ("hydra.launcher", "hydra.sweeper.n_trials")):
            raise UserError(
                f"{override!r}: a resumed sweep runs its jobs as they were defined; only the "
                "launcher (hydra/launcher=..., hydra.launcher.*) and hydra.sweeper.n_trials change"
            )
    kept = [o for o in master["overrides"]["hydra"] if carried_hydra_override(o, dirs)]
    return ["-m", *master["overrides"]["task"], *kept, *new, *search_path(dirs),
            f"hydra.sweep.dir={path_value(sweep_dir)}",
            f"hydra.sweeper._target_={RESUME_SWEEPERS[sweeper]}"]  # fmt: skip


def to_run(
    folder: Path, number: int, overrides: Sequence[str], loader: Any, master: DictConfig
) -> bool:
    """Whether job ``number`` has to run. Its config must pass ``check_targets``, and a folder it
    has must hold it: its overrides, and the config conf/ composes for them."""
    try:
        config = loader.load_sweep_config(master, list(overrides))
    except (HydraException, OmegaConfBaseException) as error:
        raise UserError(
            f"conf/ does not compose job {number} ({' '.join(overrides)}): {error}"
        ) from error
    check_targets(config, config_dirs(master))
    if (folder / ".hydra" / "overrides.yaml").is_file():
        stored = read_run(folder)
        if dict(parse_overrides(stored.overrides)) != dict(parse_overrides(overrides)):
            raise UserError(
                f"{folder} holds the job {' '.join(stored.overrides)}, not this sweep's job "
                f"{number} ({' '.join(overrides)})"
            )
        left = differences(stored.config, as_data(config))
        if left:
            raise UserError(
                f"conf/ now composes job {number} differently from {folder}/.hydra/config.yaml "
                f"({left[0]}); resume the sweep with the conf/ it ran with"
            )
        if read_status(folder).status == COMPLETED:
            return False
    return True


def consecutive(numbers: Sequence[int]) -> Iterator[tuple[int, int]]:
    """``[2, 3, 5]`` -> ``(2, 4), (5, 6)``: runs of job numbers, as [start, stop)."""
    start = None
    for i, number in enumerate(numbers):
        start = number if start is None else start
        if i + 1 == len(numbers) or numbers[i + 1] != number + 1:
            yield start, number + 1
            start = None


class ResumeBasicSweeper(Sweeper):
    """Hydra's basic sweeper, finishing a sweep: only jobs that did not complete are launched.

    Not a subclass of BasicSweeper: Hydra's plugin scan executes that module again, and
    BasicSweeper's own ``super(BasicSweeper, self)`` then fails for a subclass made before.
    """

    # set in setup() before any other call (Hydra's Sweeper types them Optional)
    hydra_context: HydraContext
    config: DictConfig
    launcher: Any

    def __init__(self, max_batch_size: int | None = None, params: dict | None = None) -> None:
        self.params = params or {}  # max_batch_size: jobs go in runs of consecutive numbers

    def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Any:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper  # its job list

        loader = self.hydra_context.config_loader
        params = [f"{key}={value}" for key, value in self.params.items()]
        overrides = OverridesParser.create(config_loader=loader).parse_overrides(params + arguments)
        [jobs] = BasicSweeper.split_arguments(overrides, max_batch_size=None)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        try:
            check_targets(self.config, config_dirs(self.config))
            todo = [n for n, job in enumerate(jobs)
                    if to_run(sweep_dir / str(n), n, job, loader, self.config)]  # fmt: skip
        except UserError as error:
            exit_for_user_error(error)
        log.info(f"Resuming {sweep_dir}: {len(jobs) - len(todo)} of {len(jobs)} jobs completed; "
                 f"running {', '.join(map(str, todo)) or 'none'}")  # fmt: skip
        return [
            self.launcher.launch(jobs[start:stop], initial_job_idx=start)
            for start, stop in consecutive(todo)
        ]


try:
    from litlab.sweeps.search.sweeper import OptunaSweeper, job_overrides
    from litlab.sweeps.search.workers import SWEEP_ATTR
except ImportError:  # the sweeps extra (optuna) is not installed: no Optuna searches to resume
    OptunaSweeper = ResumeOptunaSweeper = None  # type: ignore[assignment,misc]

if OptunaSweeper is not None:

    class CheckedLauncher:
        """Checks each job's config for disallowed ``_target_``s before the launcher builds it."""

        def __init__(self, launcher: Any, loader: Any, master: DictConfig) -> None:
            self.launcher, self.loader, self.master = launcher, loader, master

        def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Any:
            try:
                for overrides in job_overrides:
                    job = self.loader.load_sweep_config(self.master, list(overrides))
                    check_targets(job, config_dirs(self.master))
            except UserError as error:
                exit_for_user_error(error)
            return self.launcher.launch(job_overrides, initial_job_idx=initial_job_idx)

    class ResumeOptunaSweeper(OptunaSweeper):  # type: ignore[no-redef]
        """litlab's Optuna sweeper, continuing its study: trials interrupted while running run
        again in their own folders, then new trials until the study holds ``n_trials``."""

        def setup(self, *, hydra_context: Any, task_function: Any, config: DictConfig) -> None:
            super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
            loader = hydra_context.config_loader
            self.launcher = CheckedLauncher(self.launcher, loader, config)

        def open_study(self) -> Any:
            if self.storage_config is None:
                raise UserError(
                    "this search kept its Optuna study in memory (hydra.sweeper.storage=null): "
                    "there is no study to continue"
                )
            check_targets(self.config, config_dirs(self.config))
            return super().open_study()  # no trial asked yet: an empty study

        def before_search(self, study: Any) -> None:
            from optuna.trial import TrialState

            trials = study.get_trials(deepcopy=False)
            loader = self.hydra_context.config_loader
            for trial in trials:  # every folder holds its trial, before anything runs
                to_run(self.sweep_dir / str(trial.number), trial.number,
                       job_overrides(trial, self.fixed), loader, self.config)  # fmt: skip
            numbers = [job.name for job in find_jobs(self.sweep_dir)]
            strays = [n for n in numbers if n.isdigit() and int(n) >= len(trials)]
            if strays:
                strays = ", ".join(sorted(strays, key=int))  # type: ignore[assignment]
                raise UserError(f"job folders {strays} of {self.sweep_dir} have no trial in the "
                                f"study {self.study_name}")  # fmt: skip
            here = str(self.sweep_dir.resolve())  # another sweeper's trials are its own
            running = [t for t in trials if t.state == TrialState.RUNNING and  # job not alive
                       t.user_attrs.get(SWEEP_ATTR, here) == here and
                       read_status(self.sweep_dir / str(t.number)).status != RUNNING]  # fmt: skip
            log.info(f"Resuming the study {self.study_name}: {len(trials)} trials, of which "
                     f"{len(running)} interrupted; {self.n_trials} in all")  # fmt: skip
            for trial in running:  # with the overrides in its folder's order, if it has one
                stored = self.sweep_dir / str(trial.number) / ".hydra"
                overrides = read_run(stored.parent).overrides if stored.is_dir() else None
                self.run_trials(study, [trial], [overrides or job_overrides(trial, self.fixed)])
            sampler = study.sampler
            if trials and hasattr(sampler, "reseed_rng"):  # else a seeded sampler would start
                sampler.reseed_rng()  # its draws over, and repeat the first trials
