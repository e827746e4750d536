"""Where the study lives: ``hydra.sweeper.storage`` is an Optuna storage built with ``_target_``
(``conf/hydra/sweeper/litlab_optuna/storage``: SQLite in the sweep folder, Optuna's journal
file, or a PostgreSQL server), a database URL, or null (in memory: no resume, no pruning, no
second process). ``StudyLock`` makes counting the study's trials and asking for more one step
for every sweeper on the study, wherever they run."""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from litlab.errors import UserError

RDB = "optuna.storages.RDBStorage"
JOURNAL_FILE = "optuna.storages.journal.JournalFileBackend"


def storage_url(config: DictConfig | str | None) -> str | None:
    """The database URL of a storage config (RDBStorage's ``url``, or the URL itself)."""
    if isinstance(config, str):
        return config
    if config is not None and config.get("_target_") == RDB:
        if OmegaConf.is_missing(config, "url"):
            raise UserError("hydra.sweeper.storage.url is missing: the study's database, "
                            "e.g. postgresql://user@host:5432/optuna")  # fmt: skip
        return str(config.url)
    return None


def check_storage(config: DictConfig | str | None) -> None:
    """Refuse SQLite's engine arguments on another database (psycopg would say only
    ``invalid connection option "timeout"``), naming the config that fits."""
    url = storage_url(config)
    if url is None or url.startswith("sqlite") or isinstance(config, str):
        return
    connect_args = OmegaConf.select(config, "engine_kwargs.connect_args") or {}  # type: ignore[arg-type]
    if "timeout" in connect_args:
        raise UserError(
            f"hydra.sweeper.storage.url={url!r} with SQLite's engine_kwargs.connect_args.timeout:"
            " for a database server choose its storage config, "
            "hydra/sweeper/litlab_optuna/storage@hydra.sweeper.storage=postgres"
        )


def open_storage(config: DictConfig | str | None) -> Any:
    """The storage object Optuna's ``create_study``/``load_study`` take (a URL passes as is); a
    UserError in one line if it cannot be opened (a file that is not the study's, a server that
    refuses)."""
    check_storage(config)
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


def lock_key(study_name: str) -> int:
    """A study's key for PostgreSQL's advisory locks (a signed 64-bit number)."""
    digest = hashlib.sha256(f"litlab study {study_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class StudyLock:
    """Held while a sweeper counts the study's trials and asks for more, so that all sweepers
    on one study (several ``-m`` commands, cluster jobs, ``litlab resume``) stay within
    ``n_trials`` together. Where the study is:

    - on PostgreSQL: an advisory lock in the database itself (it spans machines, and ends with
      the connection of a process that dies);
    - in a file (SQLite, Optuna's journal): a file lock beside it;
    - elsewhere: a file lock in the sweep folder (one sweep folder's sweepers only)."""

    def __init__(self, config: DictConfig | str | None, study_name: str, sweep_dir: Path) -> None:
        self.study_name, self.engine, self.path = study_name, None, sweep_dir / ".optuna.lock"
        url = storage_url(config)
        if url is not None and url.startswith("postgresql"):
            import sqlalchemy
            from sqlalchemy.pool import NullPool

            self.engine = sqlalchemy.create_engine(url, poolclass=NullPool)
        elif url is not None and url.startswith("sqlite"):
            from sqlalchemy.engine import make_url

            database = make_url(url).database
            if database and database != ":memory:":
                self.path = Path(database + ".lock")
        elif (
            isinstance(config, DictConfig)
            and OmegaConf.select(config, "log_storage._target_") == JOURNAL_FILE
        ):
            self.path = Path(str(config.log_storage.file_path) + ".litlab-lock")

    @contextmanager
    def __call__(self) -> Iterator[None]:
        if self.engine is not None:
            with self._advisory():
                yield
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def _advisory(self) -> Iterator[None]:
        from sqlalchemy import text

        key = {"key": lock_key(self.study_name)}
        with self.engine.connect() as connection:  # type: ignore[union-attr]  # a database's
            connection.execute(text("SELECT pg_advisory_lock(:key)"), key)
            connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), key)
                connection.commit()
