"""A run folder's stored config, read as data: what it may build, and how conf/ rebuilds it.

A folder may come from someone else, and instantiating its ``_target_``s would run whatever they
name; ``check_targets`` allows only the packages litlab uses. ``rebuild`` turns the stored config
back into train.py overrides: the run's own overrides, plus one ``++key=value`` or ``~key`` for
each value that conf/ composes differently today, checked by composing them again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from litlab.errors import UserError

REPO = Path(__file__).resolve().parents[3]  # src/litlab/runs/ -> the checkout
CONF_DIR = REPO / "conf"
TRAIN_PY = REPO / "train.py"
SWEEP_RECORD = "multirun.yaml"  # a sweep folder's master config (see litlab.runs.guard)

# The packages litlab uses: a stored config builds objects from these only.
ALLOWED_PACKAGES = ("litlab", "torch", "torchvision", "torchmetrics", "lightning", "hydra")
# In the Hydra node, also launchers and sweepers (Hydra's own rule) and Optuna's samplers.
HYDRA_NODE_PACKAGES = ("hydra_plugins", "optuna")
# Inside those packages: functions that load pickles or code from files or the network.
CODE_LOADERS = ("torch.load", "torch.serialization", "torch.hub", "torch.jit.load",
                "torch.package", "torch.utils.cpp_extension", "torch.ops.load_library",
                "torch.classes.load_library")  # fmt: skip
# hydra.utils helpers that import whatever dotted ``path`` they are given: checked like targets.
PATH_TARGETS = ("hydra.utils.get_object", "hydra.utils.get_method", "hydra.utils.get_class")


def target_problem(where: str, target: object) -> str | None:
    """Why ``target`` may not be built at ``where``, or None when it may."""
    allowed = ALLOWED_PACKAGES + (HYDRA_NODE_PACKAGES if where.startswith("hydra.") else ())
    if not isinstance(target, str) or target.split(".")[0] not in allowed:
        return f"a stored config builds objects only from {', '.join(allowed)}"
    if any(target == name or target.startswith(name + ".") for name in CODE_LOADERS):
        return "it loads pickled objects or code"
    return None


def _read(node: DictConfig | ListConfig, key: Any, path: str) -> Any:
    try:
        return node[key]  # interpolations resolved: the value that would be built
    except OmegaConfBaseException as error:
        raise UserError(f"{path} cannot be read: {error}") from error


def _check(path: str, target: Any) -> None:
    problem = target_problem(path, target)
    if problem:
        raise UserError(f"{path}={target!r} is not allowed: {problem}")


def check_targets(node: DictConfig | ListConfig, where: str = "") -> None:
    """Every ``_target_`` in ``node`` names an allowed package, and so does the dotted path a
    ``hydra.utils.get_*`` target is given (``path``, or its first ``_args_``)."""
    if node._is_none() or node._is_missing() or node._is_interpolation():
        return  # nothing here; an interpolated node is checked where it points to
    prefix = f"{where}." if where else ""
    if isinstance(node, DictConfig) and "_target_" in node:
        target = _read(node, "_target_", f"{prefix}_target_")
        _check(f"{prefix}_target_", target)
        if target in PATH_TARGETS:
            for key in ("path", "_args_"):
                value = _read(node, key, f"{prefix}{key}") if key in node else None
                value = value[0] if isinstance(value, ListConfig) and len(value) else value
                if value is not None:
                    _check(f"{prefix}{key}", value)
    keys = node.keys() if isinstance(node, DictConfig) else range(len(node))
    for key in keys:
        child = node._get_node(key)
        if isinstance(child, DictConfig | ListConfig):
            check_targets(child, f"{prefix}{key}")


def compose_config(overrides: Sequence[str], with_hydra: bool = True) -> DictConfig:
    """What train.py composes from these overrides, in this checkout's conf/."""
    if not (CONF_DIR.is_dir() and TRAIN_PY.is_file()):
        raise UserError(f"litlab works from a litlab checkout (conf/, train.py): none at {REPO}")
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3", job_name="train"):
            cfg = compose("train", overrides=list(overrides), return_hydra_config=with_hydra)
    except (HydraException, OmegaConfBaseException) as error:
        message = " ".join(str(error).split())  # one line
        raise UserError(f"conf/ does not compose {' '.join(overrides)}: {message}") from error
    if with_hydra:
        HydraConfig.instance().set_config(cfg)  # for ${hydra:...} in values
    return cfg


def as_data(cfg: DictConfig) -> dict[str, Any]:
    data = OmegaConf.to_container(cfg, resolve=False)
    data.pop("hydra", None)
    return data


def quote(value: Any) -> str:
    """A value in Hydra's override grammar; strings quoted, interpolations kept."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ",".join(quote(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{key}:{quote(item)}" for key, item in value.items()) + "}"
    # Backslashes need doubling only before a quote or at the end (Hydra's grammar).
    text = re.sub(r"(\\*)('|$)", lambda m: m.group(1) * 2 + ("\\'" if m.group(2) else ""), value)
    return f"'{text}'"


def path_value(path: Path) -> str:
    """A path as an absolute override value: bare where Hydra reads it as it is."""
    text = str(path.resolve())
    return text if re.fullmatch(r"[\w./-]+", text) else quote(text)


def differences(stored: dict[str, Any], composed: dict[str, Any], prefix: str = "") -> list[str]:
    """Overrides that turn ``composed`` into ``stored``: ``++key=value`` and ``~key``."""
    changes = []
    for key, value in stored.items():
        other = composed.get(key, KeyError)
        if isinstance(value, dict) and isinstance(other, dict):
            changes += differences(value, other, f"{prefix}{key}.")
        elif other is KeyError or type(other) is not type(value) or other != value:
            changes.append(f"++{prefix}{key}={quote(value)}")
    changes += [f"~{prefix}{key}" for key in composed if key not in stored]
    return changes


@dataclass(frozen=True)
class StoredRun:
    folder: Path
    config: dict[str, Any]  # .hydra/config.yaml as written: interpolations unresolved
    overrides: list[str]  # .hydra/overrides.yaml: the command line's overrides


def read_run(folder: Path) -> StoredRun:
    if (folder / SWEEP_RECORD).is_file():
        raise UserError(
            f"{folder} is a sweep folder: finish it with litlab resume {folder}, or name one of "
            f"its jobs, {folder}/<job number>"
        )
    hydra_dir = folder / ".hydra"
    files = hydra_dir / "config.yaml", hydra_dir / "overrides.yaml"
    if not all(path.is_file() for path in files):
        raise UserError(
            f"{folder} is not a run folder: it has no .hydra/config.yaml and .hydra/overrides.yaml"
        )
    config = OmegaConf.to_container(OmegaConf.load(files[0]), resolve=False)
    overrides = yaml.safe_load(files[1].read_text()) or []
    if not isinstance(config, dict) or not all(isinstance(o, str) for o in overrides):
        raise UserError(f"{folder}/.hydra holds no readable config and overrides")
    return StoredRun(folder, config, overrides)


def rebuild(run: StoredRun) -> list[str]:
    """The overrides that, after the run's own, make conf/ compose exactly its stored config."""
    fixes = differences(run.config, as_data(compose_config(run.overrides, with_hydra=False)))
    if fixes:
        left = differences(run.config, as_data(compose_config(run.overrides + fixes, False)))
        if left:
            raise UserError(f"conf/ cannot rebuild the stored config of {run.folder}: {left[0]}")
    return fixes
