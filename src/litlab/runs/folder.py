"""One run folder, read from its files alone (README, "The run folder"): the config and overrides
Hydra saved, status.json, metrics.json and run_record.json. Nothing here imports torch, so the
run tools start quickly and work on folders copied from another machine."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from litlab.errors import UserError
from litlab.runs.status import RunStatus, read_status

HYDRA_DIR = ".hydra"
RECORD_FILE = "run_record.json"  # written by litlab.callbacks.RunRecord (litlab.runs.record)
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(), Loader=Loader) if path.is_file() else None


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def is_run_folder(folder: Path) -> bool:
    return (folder / HYDRA_DIR / "config.yaml").is_file()


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"model": {"lr": 1}}`` -> ``{"model.lr": 1}``; lists stay values."""
    if not isinstance(value, dict):
        return {prefix: value}
    if not value and prefix:
        return {prefix: {}}
    flat: dict[str, Any] = {}
    for key, item in value.items():
        flat |= flatten(item, f"{prefix}.{key}" if prefix else str(key))
    return flat


@dataclass
class Run:
    folder: Path
    config: dict[str, Any] = field(repr=False)
    overrides: list[str]
    status: RunStatus
    metrics: dict[str, float]

    @cached_property
    def record(self) -> dict[str, Any] | None:
        """run_record.json (versions, hardware, git, ...), or None."""
        return read_json(self.folder / RECORD_FILE)

    @cached_property
    def experiment(self) -> str:
        """The experiment option Hydra chose, else the config's ``name``."""
        hydra = read_yaml(self.folder / HYDRA_DIR / "hydra.yaml") or {}
        choices = hydra.get("hydra", {}).get("runtime", {}).get("choices", {})
        return str(choices.get("experiment") or self.config.get("name") or "?")

    @property
    def started(self) -> datetime:
        """From status.json; for older folders from run_record.json, else the config's mtime."""
        if self.status.started is not None:
            return datetime.fromtimestamp(self.status.started).astimezone()
        utc = (self.record or {}).get("started_utc")
        if utc:
            return datetime.fromisoformat(utc).astimezone()
        mtime = os.path.getmtime(self.folder / HYDRA_DIR / "config.yaml")
        return datetime.fromtimestamp(mtime).astimezone()

    @property
    def optimized_metric(self) -> str | None:
        return self.config.get("optimized_metric")

    @property
    def optimized_mode(self) -> str:
        return self.config.get("optimized_metric_mode") or "max"

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

    def overrides_without(self, *keys: str) -> list[str]:
        return [o for o in self.overrides if o.split("=", 1)[0].lstrip("+~") not in keys]


def read_run(folder: str | Path) -> Run:
    """The run in ``folder``; a UserError if the folder is missing or not a run folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder")
    if not is_run_folder(folder):
        raise UserError(
            f"{folder} is not a run folder (no {HYDRA_DIR}/config.yaml); run folders are the "
            "ones train.py prints as 'Run folder: ...'"
        )
    hydra_dir = folder / HYDRA_DIR
    metrics = read_json(folder / "metrics.json")
    return Run(
        folder=folder,
        config=read_yaml(hydra_dir / "config.yaml") or {},
        overrides=[str(line) for line in read_yaml(hydra_dir / "overrides.yaml") or []],
        status=read_status(folder),
        metrics=metrics if isinstance(metrics, dict) else {},
    )


def find_run_folders(root: Path) -> Iterator[Path]:
    """Every run folder under ``root`` (itself included), not looking inside run folders."""
    for current, subdirs, _ in os.walk(root):
        if is_run_folder(Path(current)):
            subdirs.clear()
            yield Path(current)
        else:
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
