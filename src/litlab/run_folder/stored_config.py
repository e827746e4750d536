"""A run folder's stored config, read as data: what it may build, and how conf/ rebuilds it.

A folder may come from someone else. ``check_targets`` judges a ``_target_`` by the object it
resolves to, never by its spelling (Hydra resolves ``litlab.validation.torch.load`` to
``torch.load``), after every interpolation and resolver (``oc.create``) is evaluated: it must be
an object that a ``_target_`` of the search path in force names (``conf/``, this command
line's ``--config-dir``s, or the config folders a run recorded that ``runs.sources`` trusts), or a
public litlab class. A module outside litlab's libraries is imported only for a name that those
configs spell: a name that only the stored config holds is looked up among the modules already
imported, never imported for it.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Any, cast

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from litlab.errors import UserError
from litlab.run_folder.folder import (
    ABSENT,
    SWEEP_RECORD,
    Run,
    config_changes,
    one_line,
    parse_overrides,
    read_run,
    read_yaml,
)

REPO = Path(__file__).resolve().parents[3]  # src/litlab/run_folder/ -> the checkout
CONF_DIR = REPO / "conf"
TRAIN_PY = REPO / "train.py"
# Packages litlab's configs build from: only names under these (or already imported) are looked
# up, so that checking a name never imports a module placed next to the folder.
LOOKED_UP = ("litlab", "torch", "torchvision", "torchmetrics", "lightning", "hydra",
             "hydra_plugins", "optuna", "omegaconf")  # fmt: skip
HINT = "a run of your own configs: name their folder with --config-dir DIR"
__all__ = ["SWEEP_RECORD", "check_targets", "read_run", "rebuild", "target_problem"]


def locate(name: str, named: bool = False) -> object | None:
    """What Hydra builds for ``_target_: name`` (by its own lookup), or None. Only a ``named``
    name (one the trusted configs spell) may import a module outside litlab's libraries."""
    from hydra._internal.utils import _locate

    top = name.split(".")[0]
    if not named and top not in LOOKED_UP and top not in sys.modules:
        return None
    try:
        return _locate(name)
    except Exception:  # noqa: BLE001 - no such object (or its module fails): nothing to build
        return None


@cache
def named_targets(config_dirs: tuple[Path, ...]) -> frozenset[str]:
    """Every ``_target_`` the YAML files of ``config_dirs`` spell."""
    names: set[str] = set()
    for folder in config_dirs:
        for path in sorted(folder.rglob("*.yaml")):
            try:
                names |= {name for _, name in targets(read_yaml(path.read_text()) or {})}
            except Exception as error:  # noqa: BLE001 - a config Hydra cannot read either
                raise UserError(f"{path} cannot be read: {one_line(error)}") from error
    return frozenset(name for name in names if isinstance(name, str))


def allowed(config_dirs: tuple[Path, ...]) -> dict[int, str]:
    """``id(object): name`` of every ``_target_`` the YAML files of ``config_dirs`` name (their
    modules imported: the configs the user trusts name them)."""
    objects = {name: locate(name, named=True) for name in sorted(named_targets(config_dirs))}
    return {id(obj): name for name, obj in objects.items() if obj is not None}


def target_problem(where: str, target: object, config_dirs: Sequence[Path] = ()) -> str | None:
    """Why ``target`` may not be built at ``where``, or None when it may: it must be named by
    the configs, a public litlab class (found where it is defined), or under ``hydra.`` a
    launcher or sweeper (Hydra's own plugins, or ``hydra_plugins``)."""
    dirs = (CONF_DIR, *config_dirs)
    ok = allowed(dirs)  # first: it imports the modules the configs name
    obj = locate(target) if isinstance(target, str) else None
    if obj is None:
        return f"no such class or function is named in the configs ({HINT})"
    module, name = getattr(obj, "__module__", None) or "", getattr(obj, "__name__", "_")
    litlab_class = module.split(".")[0] == "litlab" and name[0] != "_"
    litlab_class &= getattr(sys.modules.get(module), name, None) is obj
    plugin = where.startswith("hydra.") and module.startswith(
        ("hydra_plugins.", "hydra._internal.core")
    )
    if id(obj) in ok or (isinstance(obj, type) and (litlab_class or plugin)):
        return None
    name = f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', '?')}"
    return f"it is {name}, which no _target_ of {', '.join(map(str, dirs))} names ({HINT})"


def targets(value: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """``(dotted key, value)`` of every ``_target_`` in plain data."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        path = f"{where}.{key}" if where else str(key)
        if key == "_target_":
            yield path, item
        elif isinstance(item, dict | list):
            yield from targets(item, path)


def check_targets(cfg: DictConfig, config_dirs: Sequence[Path] = ()) -> None:
    """Every ``_target_`` in ``cfg``, as it will be built (resolved; Hydra's own node aside:
    conf/ and Hydra make it), resolves to an object the search path's configs name."""
    try:
        keys = [key for key in cfg if key != "hydra"]
        data = OmegaConf.to_container(OmegaConf.masked_copy(cfg, keys), resolve=True)  # type: ignore[arg-type]  # str keys
    except OmegaConfBaseException as error:
        raise UserError(f"the config cannot be resolved: {one_line(error)}") from error
    for where, target in targets(data):
        problem = target_problem(where, target, config_dirs)
        if problem:
            raise UserError(f"{where}={target!r} is not allowed: {problem}")


def search_path(config_dirs: Sequence[Path]) -> list[str]:
    """The override that adds ``config_dirs`` to Hydra's search path (train.py gets it too)."""
    paths = ",".join(quote(f"file://{folder}") for folder in config_dirs)
    return [f"hydra.searchpath=[{paths}]"] if config_dirs else []


def compose_config(
    overrides: Sequence[str], with_hydra: bool = True, config_dirs: Sequence[Path] = ()
) -> DictConfig:
    """What train.py composes from these overrides, in conf/ (and ``config_dirs``)."""
    if not (CONF_DIR.is_dir() and TRAIN_PY.is_file()):
        raise UserError(f"litlab works from a litlab checkout (conf/, train.py): none at {REPO}")
    everything = [*overrides, *search_path(config_dirs)]
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3", job_name="train"):
            cfg = compose("train", overrides=everything, return_hydra_config=with_hydra)
    except (HydraException, OmegaConfBaseException) as error:
        missing = "Could not find" in str(error) or "Could not load" in str(error)
        hint = f"; {HINT}" if missing and not config_dirs else ""  # an option of your configs
        raise UserError(
            f"conf/ does not compose {' '.join(overrides)}: {one_line(error)}{hint}"
        ) from error
    if with_hydra:
        HydraConfig.instance().set_config(cfg)  # for ${hydra:...} in values
    return cfg


def as_data(cfg: DictConfig) -> dict[str, Any]:
    data = cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=False))
    data.pop("hydra", None)
    return data


def quote(value: Any) -> str:
    """A value in Hydra's override grammar; strings quoted, interpolations kept."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)  # null, true, false
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


def differences(stored: dict[str, Any], composed: dict[str, Any]) -> list[str]:
    """Overrides that turn ``composed`` into ``stored``: ``++key=value`` and ``~key``."""
    changes = config_changes(stored, composed)
    return [f"~{k}" if v is ABSENT else f"++{k}={quote(v)}" for k, (v, _) in changes.items()]


def check_stored(run: Run) -> None:
    """A run folder never carries Hydra's own settings (``hydra.*``: logging handlers,
    callbacks, the search path are code and places) into a new run."""
    for line, (key, _) in zip(run.overrides, parse_overrides(run.overrides), strict=True):
        if key.lstrip("~").split(".")[0] == "hydra":
            raise UserError(
                f"{run.folder}/.hydra/overrides.yaml holds {line!r}: a stored run does not set "
                "Hydra's own settings (hydra.*); give them on this command line if you mean them"
            )
    if "hydra" in run.config:
        raise UserError(f"{run.folder}/.hydra/config.yaml sets hydra: a run's config never does")


def rebuild(run: Run, config_dirs: Sequence[Path] = ()) -> list[str]:
    """The overrides that, after the run's own, make conf/ compose exactly its stored config
    (one ``++key=value`` or ``~key`` for each value conf/ composes differently today)."""
    composed = compose_config(run.overrides, False, config_dirs)
    fixes = differences(run.config, as_data(composed))
    if fixes:
        again = compose_config(run.overrides + fixes, False, config_dirs)
        left = differences(run.config, as_data(again))
        if left:
            raise UserError(f"conf/ cannot rebuild the stored config of {run.folder}: {left[0]}")
    return fixes
