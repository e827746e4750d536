"""The model of a run folder (README "The run folder"), the one reader of its files.

``Run(folder)`` reads each file at first use, at most once; one that cannot be read makes the run
``unreadable`` (``Run.problem`` says why) instead of raising, so one bad folder never hides the
others. No torch here: the run tools start quickly.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from litlab.errors import UserError
from litlab.run_folder.results import METRICS_FILE
from litlab.run_folder.status import STATUSES, UNREADABLE, RunStatus, read_status

HYDRA_DIR = ".hydra"
CONFIG, OVERRIDES = f"{HYDRA_DIR}/config.yaml", f"{HYDRA_DIR}/overrides.yaml"
HYDRA_CONFIG = f"{HYDRA_DIR}/hydra.yaml"
RECORD_FILE = "run_record.json"  # written by litlab.callbacks.RunRecord (litlab.run_folder.record)
SWEEP_RECORD = "multirun.yaml"  # a sweep folder's master config (written by runs.guard)
# A sweep's sweeper -> the one `litlab resume` finishes it with (litlab.sweeps.resume; under
# hydra_plugins, as Hydra requires). A resume's sweep folder is its own to write into.
RESUME_SWEEPERS = {
    "hydra._internal.core_plugins.basic_sweeper.BasicSweeper":
        "hydra_plugins.litlab_resume.ResumeBasicSweeper",
    "hydra_plugins.litlab_optuna.OptunaSweeper": "hydra_plugins.litlab_optuna.ResumeOptunaSweeper",
}  # fmt: skip
ORIGIN_ENV = "LITLAB_ORIGIN"  # set by litlab rerun/resume: the run_record's ``origin``
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# What reading a file of any bytes may raise: not UTF-8 (a ValueError), not JSON/YAML, nested
# past Python's limit, a number past a float's range.
UNREADABLE_FILE = (OSError, ValueError, yaml.YAMLError, RecursionError, OverflowError)


def read_yaml(text: str) -> Any:
    return yaml.load(text, Loader=Loader)


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def parse_overrides(lines: Sequence[str]) -> list[tuple[str, str]]:
    """``["+a.b=2", "~c", "model=mlp"]`` -> ``[("a.b", "2"), ("~c", ""), ("model", "mlp")]``, by
    Hydra's own parser; a UserError naming the one it cannot read."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    pairs = []
    for line in lines:
        try:
            override = parser.parse_override(line)
        except Exception as error:  # noqa: BLE001 - Hydra's parse error says what is wrong
            raise UserError(f"cannot read the override {line!r}: {one_line(error)}") from error
        key = override.key_or_group.replace("/", ".")
        deleted = override.is_delete()
        pairs.append((f"~{key}", "") if deleted else (key, override.get_value_element_as_str()))
    return pairs


ABSENT: Any = object()  # a key one side lacks


def config_changes(a: dict, b: dict, prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """Every dotted key whose value differs, in order: ``{"model.lr": (a's, b's)}`` (ABSENT
    where one lacks it); a value of another type differs (1 and 1.0, true and 1)."""
    changes: dict[str, tuple[Any, Any]] = {}
    for key in dict.fromkeys([*a, *b]):
        x, y = a.get(key, ABSENT), b.get(key, ABSENT)
        if isinstance(x, dict) and isinstance(y, dict):
            changes |= config_changes(x, y, f"{prefix}{key}.")
        elif type(x) is not type(y) or x != y:
            changes[f"{prefix}{key}"] = (x, y)
    return changes


class Run:
    """One run folder; ``problem`` is why it is unreadable, or None."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.problems: list[str] = []

    def _read(self, name: str, parse: Callable[[str], Any], kind: type, default: Any) -> Any:
        """File ``name`` parsed, or ``default`` (noting the problem unless it is absent)."""
        try:
            value = parse((self.folder / name).read_text())
        except FileNotFoundError:
            if name in (CONFIG, OVERRIDES):
                self.problems.append(f"no {name}")
            return default
        except UNREADABLE_FILE as error:  # any bytes: one bad file never hides the other runs
            self.problems.append(f"{name} cannot be read: {one_line(error)[:200]}")
            return default
        if value is None and kind is not dict:
            return default
        if not isinstance(value, kind):
            self.problems.append(f"{name} is not {'a mapping' if kind is dict else 'a list'}")
            return default
        return value

    @property
    def name(self) -> str:
        return self.folder.name

    @cached_property
    def config(self) -> dict[str, Any]:
        """``.hydra/config.yaml`` as written: interpolations unresolved."""
        return self._read(CONFIG, read_yaml, dict, {})

    @cached_property
    def overrides(self) -> list[str]:
        """``.hydra/overrides.yaml``: the command line's overrides, as typed."""
        lines = self._read(OVERRIDES, read_yaml, list, [])
        if all(isinstance(line, str) for line in lines):
            return lines
        self.problems.append(f"{OVERRIDES} holds something other than overrides")
        return []

    @cached_property
    def settings(self) -> dict[str, str]:
        """The overrides by key, in order: ``{"seed": "1", "~callbacks.x": ""}``."""
        try:
            return dict(parse_overrides(self.overrides))
        except UserError as error:
            self.problems.append(f"{OVERRIDES}: {error}")
            return {}

    @cached_property
    def override_keys(self) -> list[str]:
        """Each override's key, ``~`` dropped, in the order of ``overrides``."""
        try:
            return [key.lstrip("~") for key, _ in parse_overrides(self.overrides)]
        except UserError:  # said by ``settings``
            return []

    def overrides_without(self, *keys: str) -> list[str]:
        """``overrides`` as typed, less those of ``keys``."""
        pairs = zip(self.overrides, self.override_keys, strict=False)
        return [line for line, key in pairs if key not in keys]

    def used_overrides(self, *without: str) -> list[str]:
        """The overrides the run used: of a key given twice (a resumed run's new value after its
        stored one), the last, as Hydra takes it; less those of ``without``."""
        keys = self.override_keys
        last = {key: i for i, key in enumerate(keys)}
        return [line for i, (line, key) in enumerate(zip(self.overrides, keys, strict=False))
                if last[key] == i and key not in without]  # fmt: skip

    @cached_property
    def metrics(self) -> dict[str, float]:
        metrics = self._read(METRICS_FILE, json.loads, dict, {})
        numbers = (isinstance(v, float | int) and not isinstance(v, bool) for v in metrics.values())
        if not all(numbers):
            self.problems.append(f"{METRICS_FILE} holds values that are not numbers")
            return {}
        try:
            _ = [float(value) for value in metrics.values()]
            return metrics
        except OverflowError:  # an int past a float's range: no metric is one
            self.problems.append(f"{METRICS_FILE} holds a number too large for a float")
            return {}

    @cached_property
    def record(self) -> dict[str, Any] | None:
        """run_record.json (versions, hardware, git, origin, ...), or None."""
        return self._read(RECORD_FILE, json.loads, dict, None) or None

    @cached_property
    def run_status(self) -> RunStatus:
        status = read_status(self.folder)
        if status.status == UNREADABLE:
            self.problems.append(status.error or "")
        return status

    @cached_property
    def problem(self) -> str | None:
        """Why the folder cannot be read as a run (the first reason), or None."""
        _ = self.config, self.settings, self.metrics, self.run_status
        return self.problems[0] if self.problems else None

    @property
    def status(self) -> str:
        return UNREADABLE if self.problem else self.run_status.status

    @property
    def error(self) -> str | None:
        return self.problem or self.run_status.error

    @cached_property
    def choices(self) -> dict[str, Any]:
        """The option Hydra chose for each config group (``.hydra/hydra.yaml``), or {}."""
        hydra = (self._read(HYDRA_CONFIG, read_yaml, dict, None) or {}).get("hydra")
        runtime = hydra.get("runtime") if isinstance(hydra, dict) else None
        choices = runtime.get("choices") if isinstance(runtime, dict) else None
        return choices if isinstance(choices, dict) else {}

    @cached_property
    def experiment(self) -> str:
        """The experiment option Hydra chose (``.hydra/hydra.yaml``), else the config's name."""
        return str(self.choices.get("experiment") or self.config.get("name") or "?")

    @cached_property
    def started(self) -> datetime:
        """From status.json; for older folders from run_record.json, else the folder's mtime."""
        try:
            if self.run_status.started is not None:
                return datetime.fromtimestamp(self.run_status.started).astimezone()
        except (OverflowError, ValueError, OSError):  # parse_status keeps it in range
            pass
        utc = (self.record or {}).get("started_utc")
        try:
            return datetime.fromisoformat(utc).astimezone()  # type: ignore[arg-type]  # TypeError: below
        except (TypeError, ValueError, OverflowError):
            config = self.folder / CONFIG
            mtime = os.path.getmtime(config if config.is_file() else self.folder)
            return datetime.fromtimestamp(mtime).astimezone()

    @property
    def origin(self) -> dict[str, str]:
        """What ``litlab rerun``/``resume`` made this run from: ``{"command", "run"}``, or {}."""
        origin = (self.record or {}).get("origin")
        if not isinstance(origin, dict):
            return {}
        return {str(key): str(value) for key, value in origin.items()}

    @property
    def optimized_metric(self) -> str | None:
        metric = self.config.get("optimized_metric")
        return metric if isinstance(metric, str) else None

    @property
    def optimized_mode(self) -> str:
        return "min" if self.config.get("optimized_metric_mode") == "min" else "max"

    @property
    def test_metric(self) -> str | None:
        """``test/<x>`` for an optimized ``val/<x>`` (or ``train/<x>``) when the run has it,
        else ``test/loss``, else the first test metric."""
        tests = sorted(name for name in self.metrics if name.startswith("test/"))
        wanted = []
        if self.optimized_metric and "/" in self.optimized_metric:
            wanted.append("test/" + self.optimized_metric.split("/", 1)[1])
        wanted.append("test/loss")
        return next((name for name in wanted if name in self.metrics), tests[0] if tests else None)


def counted(runs: Sequence[Run], noun: str = "run") -> str:
    """``"3 runs: 1 completed, 1 pruned, 1 failed"``."""
    counts = {s: n for s in STATUSES if (n := sum(run.status == s for run in runs))}
    plural = "s" if len(runs) != 1 else ""
    return f"{len(runs)} {noun}{plural}: " + ", ".join(f"{n} {s}" for s, n in counts.items())


def read_run(folder: str | Path, readable: bool = False) -> Run:
    """The run in ``folder``; a UserError if the folder is missing or not a run folder, or
    (``readable``) if a file of it cannot be read."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder")
    if (folder / SWEEP_RECORD).is_file():
        raise UserError(
            f"{folder} is a sweep folder: finish it with litlab resume {folder}, or name one of "
            f"its jobs, {folder}/<job number>"
        )
    if not (folder / CONFIG).is_file():
        raise UserError(
            f"{folder} is not a run folder (no {CONFIG}); run folders are the ones train.py "
            "prints as 'Run folder: ...'"
        )
    run = Run(folder)
    if readable and run.problem:
        raise UserError(f"{folder} is unreadable: {run.problem}")
    return run


def find_run_folders(root: Path) -> Iterator[Path]:
    """Every run folder under ``root`` (itself included), not looking inside run folders."""
    for current, subdirs, _ in os.walk(root):
        if (Path(current) / CONFIG).is_file():
            subdirs.clear()
            yield Path(current)
        else:
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))


def find_jobs(sweep_dir: Path) -> list[Run]:
    """The job folders of a sweep (each holds ``.hydra/``), by job number."""
    folders = [path.parent for path in sweep_dir.glob(f"*/{HYDRA_DIR}") if path.is_dir()]
    number = {f: (int(f.name), "") if f.name.isdigit() else (sys.maxsize, f.name) for f in folders}
    return [Run(folder) for folder in sorted(folders, key=number.get)]  # type: ignore[arg-type]


def read_sweep_record(sweep_dir: Path) -> dict[str, Any]:
    """``multirun.yaml``'s ``hydra`` node; a UserError saying what is missing from it."""
    try:
        hydra = read_yaml((sweep_dir / SWEEP_RECORD).read_text())["hydra"]
        good = isinstance(hydra["sweep"], dict) and isinstance(hydra["sweeper"]["_target_"], str)
        good &= all(isinstance(hydra["overrides"][key], list) for key in ("task", "hydra"))
    except OSError as error:
        raise UserError(f"{sweep_dir}/{SWEEP_RECORD} cannot be read: {error}") from error
    except (yaml.YAMLError, KeyError, TypeError):
        good = False
    if not good:
        raise UserError(
            f"{sweep_dir}/{SWEEP_RECORD} is unreadable: it lacks hydra.sweeper._target_, "
            "hydra.sweep or hydra.overrides.task/hydra"
        )
    return hydra
