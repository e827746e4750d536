"""A Hydra callback that checks and claims the run or sweep folder before Hydra writes anything
into it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from litlab.errors import UserError, exit_for_user_error
from litlab.run_folder.claim import claim, release
from litlab.run_folder.folder import CONFIG, RESUME_SWEEPERS, SWEEP_RECORD, find_jobs
from litlab.run_folder.ranks import writes_run_folder
from litlab.run_folder.results import METRICS_FILE
from litlab.run_folder.sources import (
    SOURCES_FILE,
    config_dir_args,
    config_dirs_in_force,
    current_sources,
)
from litlab.value_rules import MIN_OR_MAX, check_rules

# What a run leaves once it got somewhere: a new run must not overwrite them.
RESULTS = (METRICS_FILE, "checkpoints")
BASIC_RESUME = RESUME_SWEEPERS["hydra._internal.core_plugins.basic_sweeper.BasicSweeper"]


def check_run_folder(folder: Path) -> None:
    """The folder must be new (or hold no results), no sweep's folder, and writable; raises
    UserError if not."""
    found = [name for name in RESULTS if (folder / name).exists()]
    if found:
        raise UserError(
            f"hydra.run.dir={str(folder)!r} already holds a run ({', '.join(found)}); a new "
            "run never overwrites one. Leave hydra.run.dir at its default (a new folder per "
            "run), or continue that run with: litlab resume <that run>, which writes a new folder."
        )
    if (folder / SWEEP_RECORD).exists() or find_jobs(folder):  # its jobs would vanish from view
        raise UserError(
            f"hydra.run.dir={str(folder)!r} is a sweep's folder; a run never writes into one. "
            "Leave hydra.run.dir at its default (a new folder per run)."
        )


def writable(folder: Path, key: str) -> None:
    """Create ``folder`` and claim it for this process; a UserError if it cannot be written or
    another run or sweep holds it (two started at the same moment: the first one wins)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        free = claim(folder)
    except OSError as error:
        raise UserError(
            f"cannot write the run folder {str(folder)!r}: {error.strerror or error}. "
            "Choose a writable place with paths.log_dir=<folder>."
        ) from error
    if not free:
        raise UserError(
            f"{key}={str(folder)!r} is being written by another run or sweep (started at the "
            "same moment, or still running); one folder holds one run. Leave "
            f"{key} at its default (a new folder per run)."
        )


class RunFolderGuard(Callback):
    """Refuse an unwritable run folder, one that holds a finished run, a sweep's, or one that
    another process is writing into; the same for a sweep folder (and a run's folder), except
    that ``litlab resume`` finishes a sweep in its own; and, for a sweep, an
    ``optimized_metric_mode`` that is neither min nor max, before any job runs. The folder is
    claimed for the process's life (``litlab.run_folder.claim``): of two runs or sweeps started into
    one folder at the same moment, one is refused."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        HydraConfig.instance().set_config(config)  # for ${hydra:...} in the folder's name
        folder = Path(str(config.hydra.run.dir))
        try:
            check_run_folder(folder)  # before the claim: a refused folder is left as it was
            if not writes_run_folder():  # a DDP child: rank zero claimed this folder
                return
            writable(folder, "hydra.run.dir")
            check_run_folder(folder)  # again: a run that won the claim may have finished since
        except UserError as error:
            exit_for_user_error(error)

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        release(Path(str(config.hydra.run.dir)))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        HydraConfig.instance().set_config(config)
        folder = Path(str(config.hydra.sweep.dir))
        sweeper = str(config.hydra.sweeper.get("_target_"))
        try:
            if sweeper == BASIC_RESUME:  # two resumes of one grid would run its jobs twice
                writable(folder, "hydra.sweep.dir")
            if sweeper in RESUME_SWEEPERS.values():
                # its own sweep folder, checked job by job (litlab.sweeps.resume); an Optuna
                # study takes a second sweeper while the first runs (litlab.sweeps.search.storage)
                return
            # the summary ranks the jobs by it: a typo would only show once they all ran
            check_rules(config, {"optimized_metric_mode": MIN_OR_MAX})
            hint = config_dir_args(config_dirs_in_force(config.hydra))
            self.check_sweep_folder(folder, hint)
            writable(folder, "hydra.sweep.dir")  # created now (an Optuna study's file goes in)
            self.check_sweep_folder(folder, hint)  # again: another sweep may have won the claim
        except UserError as error:
            exit_for_user_error(error)
        OmegaConf.save(config, folder / SWEEP_RECORD)  # the sweep's record, read by litlab resume
        task = OmegaConf.masked_copy(config, [key for key in config if key != "hydra"])  # type: ignore[misc]  # top-level keys are strs
        task = OmegaConf.to_container(task)  # type: ignore[assignment]  # now the plain dict
        sources = current_sources(config.hydra, task)  # where its configs and code came from
        (folder / SOURCES_FILE).write_text(json.dumps(sources, indent=2) + "\n")

    @staticmethod
    def check_sweep_folder(folder: Path, hint: str = "") -> None:
        if (folder / SWEEP_RECORD).exists() or find_jobs(folder):  # jobs would mix
            raise UserError(
                f"hydra.sweep.dir={str(folder)!r} already holds a sweep; a new sweep never "
                f"writes into one. Finish that sweep with: litlab resume {folder}{hint}"
            )
        found = [name for name in (CONFIG, *RESULTS) if (folder / name).exists()]
        if found:
            raise UserError(
                f"hydra.sweep.dir={str(folder)!r} is a run's folder ({', '.join(found)}); a "
                "sweep never writes into one. Leave hydra.sweep.dir at its default."
            )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        release(Path(str(config.hydra.sweep.dir)))
