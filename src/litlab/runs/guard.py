"""A Hydra callback that checks the run or sweep folder before Hydra writes anything into it."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from litlab.errors import UserError, exit_for_user_error
from litlab.runs.folder import RESUME_SWEEPERS, SWEEP_RECORD, find_jobs
from litlab.runs.results import METRICS_FILE
from litlab.runs.sources import (
    SOURCES_FILE,
    config_dir_args,
    config_dirs_in_force,
    current_sources,
)
from litlab.validation import MIN_OR_MAX, check_values

# What a run leaves once it got somewhere: a new run must not overwrite them.
RESULTS = (METRICS_FILE, "checkpoints")


def check_run_folder(folder: Path) -> None:
    """The folder must be new (or hold no results) and writable; raises UserError if not."""
    found = [name for name in RESULTS if (folder / name).exists()]
    if found:
        raise UserError(
            f"hydra.run.dir={str(folder)!r} already holds a run ({', '.join(found)}); a new "
            "run never overwrites one. Leave hydra.run.dir at its default (a new folder per "
            "run), or continue that run with: litlab resume <that run>, which writes a new folder."
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise UserError(
            f"cannot write the run folder {str(folder)!r}: {error.strerror or error}. "
            "Choose a writable place with paths.log_dir=<folder>."
        ) from error


class RunFolderGuard(Callback):
    """Refuse an unwritable run folder, or one that holds a finished run; the same for a sweep
    folder, except when ``litlab resume`` finishes the sweep in it; and, for a sweep, an
    ``optimized_metric_mode`` that is neither min nor max, before any job runs."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        HydraConfig.instance().set_config(config)  # for ${hydra:...} in the folder's name
        try:
            check_run_folder(Path(str(config.hydra.run.dir)))
        except UserError as error:
            exit_for_user_error(error)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        HydraConfig.instance().set_config(config)
        folder = Path(str(config.hydra.sweep.dir))
        if str(config.hydra.sweeper.get("_target_")) in RESUME_SWEEPERS.values():
            return  # its own sweep folder, checked job by job (litlab.runs.sweep_resume)
        try:
            # the summary ranks the jobs by it: a typo would only show once they all ran
            check_values(config, {"optimized_metric_mode": MIN_OR_MAX})
            if (folder / SWEEP_RECORD).exists() or find_jobs(folder):  # jobs would mix
                raise UserError(
                    f"hydra.sweep.dir={str(folder)!r} already holds a sweep; a new sweep never "
                    "writes into one. Finish that sweep with: litlab resume "
                    f"{folder}{config_dir_args(config_dirs_in_force(config.hydra))}"
                )
            check_run_folder(folder)  # writable; created now (an Optuna study's file goes in)
        except UserError as error:
            exit_for_user_error(error)
        OmegaConf.save(config, folder / SWEEP_RECORD)  # the sweep's record, read by litlab resume
        task = OmegaConf.masked_copy(config, [key for key in config if key != "hydra"])
        task = OmegaConf.to_container(task)
        sources = current_sources(config.hydra, task)  # where its configs and code came from
        (folder / SOURCES_FILE).write_text(json.dumps(sources, indent=2) + "\n")
