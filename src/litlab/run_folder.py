"""A Hydra callback that checks the run folder before Hydra writes anything into it."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from litlab.errors import UserError, exit_for_user_error

# What a run leaves once it got somewhere: a new run must not overwrite them.
RESULTS = ("metrics.json", "checkpoints")


def check_run_folder(folder: Path) -> None:
    """The folder must be new (or hold no results) and writable; raises UserError if not."""
    found = [name for name in RESULTS if (folder / name).exists()]
    if found:
        raise UserError(
            f"hydra.run.dir={str(folder)!r} already holds a run ({', '.join(found)}); a new "
            "run never overwrites one. Leave hydra.run.dir at its default (a new folder per "
            "run), or resume with ckpt_path=<that run>/checkpoints/last.ckpt, which writes a "
            "new folder."
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
    """Single runs: refuse an unwritable run folder, or one that holds a finished run."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        HydraConfig.instance().set_config(config)  # for ${hydra:...} in the folder's name
        try:
            check_run_folder(Path(str(config.hydra.run.dir)))
        except UserError as error:
            exit_for_user_error(error)
