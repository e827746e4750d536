"""Where the study lives: ``hydra.sweeper.storage`` is an Optuna storage built with ``_target_``
(``conf/hydra/sweeper/litlab_optuna/storage``: SQLite in the sweep folder, or Optuna's journal
file), a database URL, or null (in memory: no resume, no pruning, no second process)."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from litlab.errors import UserError


def open_storage(config: DictConfig | str | None) -> Any:
    """The storage object Optuna's ``create_study``/``load_study`` take (a URL passes as is); a
    UserError in one line if it cannot be opened (a file that is not the study's, a server that
    refuses)."""
    if config is None or isinstance(config, str):
        return config
    try:
        return instantiate(config)
    except Exception as error:  # noqa: BLE001 - the database driver's own words say why
        cause = error.__cause__ or error
        cause = getattr(cause, "orig", None) or cause  # SQLAlchemy's: the driver's error
        where = config.get("url") or OmegaConf.select(config, "log_storage.file_path") or ""
        where = f" ({where})" if where else ""
        reason = " ".join(f"{type(cause).__name__}: {cause}".split())[:300]
        raise UserError(f"hydra.sweeper.storage{where} cannot be opened: {reason}") from error


def trial_in_job(sweeper: DictConfig, number: int) -> optuna.trial.Trial:
    """Trial ``number`` of the sweeper's study, opened again in the process that runs its job:
    what it reports there is in the study, and its pruner is the sweeper's."""
    storage = open_storage(sweeper.storage)
    pruner = instantiate(sweeper.pruner) if sweeper.get("pruner") else None
    study = optuna.load_study(study_name=sweeper.study_name, storage=storage, pruner=pruner)
    study_id = storage.get_study_id_from_name(sweeper.study_name)
    return optuna.trial.Trial(
        study, storage.get_trial_id_from_study_id_trial_number(study_id, number)
    )


@contextmanager
def sweep_lock(sweep_dir: Path) -> Iterator[None]:
    """Held while a sweeper counts the study's trials and asks for more, so that two sweepers
    on one study (``litlab resume`` while another runs) never ask past ``n_trials``."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    with open(sweep_dir / ".optuna.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
