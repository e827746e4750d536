"""Where a run's experiment came from, so that the run tools find it again in a fresh shell.

A run (``run_record.json``'s ``sources``) and a sweep (``sources.json`` beside ``multirun.yaml``)
record the config folders Hydra searched besides conf/ (``--config-dir``, ``hydra.searchpath``)
and the import roots of the modules their ``_target_``s name (the folder a module, or a
package's folder, lies in: what PYTHONPATH held for it).

A folder may come from someone else, so what it records is only a hint; ``trusted`` keeps a
recorded folder only when it exists, lies outside the folder being revisited (no code from a run
folder runs), is not writable by others and is owned by you or root (git's ``safe.directory``
rule); a config folder must also hold one of the options the run chose. Even then an import root
only lets litlab import a module whose name a ``_target_`` of the trusted config folders spells
(``stored_config``): a name that only the stored config holds is never imported.
"""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from litlab.errors import UserError

CONF_DIR = Path(__file__).resolve().parents[3] / "conf"  # litlab's own: the main config source
SOURCES_FILE = "sources.json"  # in a sweep folder; a run keeps them in run_record.json
# Packages that are litlab's or its libraries': never an import root of an experiment.
LIBRARIES = ("litlab", "torch", "torchvision", "torchmetrics", "lightning", "hydra",
             "hydra_plugins", "optuna", "omegaconf")  # fmt: skip


def import_root(module: str) -> Path | None:
    """The sys.path entry ``module`` is found under, without running it (None: a library's,
    the standard library's, or not found)."""
    top = module.split(".")[0]
    if not top or top in LIBRARIES or top in sys.stdlib_module_names:
        return None
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
        return None
    origin = Path(spec.origin).resolve()
    root = origin.parent.parent if spec.submodule_search_locations else origin.parent
    return None if root.name in ("site-packages", "dist-packages") else root


def target_names(value: Any) -> Iterable[str]:
    """Every ``_target_`` string in plain data."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        if key == "_target_" and isinstance(item, str):
            yield item
        elif isinstance(item, dict | list):
            yield from target_names(item)


def config_dirs_in_force(hydra_cfg: Any) -> list[str]:
    """The file folders on Hydra's search path besides conf/ (``hydra.runtime.config_sources``:
    ``--config-dir`` and ``hydra.searchpath``)."""
    try:
        sources = list(hydra_cfg.runtime.config_sources or [])
    except Exception:  # noqa: BLE001 - composed outside a run: no sources recorded
        return []
    dirs = []
    for source in sources:
        if source.get("schema") != "file" or source.get("provider") == "main":
            continue
        path = str(Path(str(source.path)).resolve())
        if path != str(CONF_DIR) and path not in dirs:
            dirs.append(path)
    return dirs


def current_sources(hydra_cfg: Any, config: Any) -> dict[str, list[str]]:
    """This run's (or sweep's) sources: its config folders and its modules' import roots."""
    roots: list[str] = []
    for name in target_names(config):
        root = import_root(name.rsplit(".", 1)[0])
        if root is not None and str(root) not in roots:
            roots.append(str(root))
    return {"config_dirs": config_dirs_in_force(hydra_cfg), "import_roots": roots}


def read_sources(folder: Path, record: dict[str, Any] | None) -> dict[str, list[str]]:
    """What a run's record or a sweep folder's sources.json holds ({} if nothing)."""
    if record is None and (folder / SOURCES_FILE).is_file():
        try:
            record = {"sources": json.loads((folder / SOURCES_FILE).read_text())}
        except (OSError, ValueError):
            return {}
    sources = (record or {}).get("sources")
    if not isinstance(sources, dict):
        return {}
    return {key: [str(p) for p in sources.get(key) or [] if isinstance(p, str)]
            for key in ("config_dirs", "import_roots")}  # fmt: skip


def untrusted(path: Path, revisited: Path) -> str | None:
    """Why a recorded folder is not used, or None."""
    if not path.is_absolute() or not path.is_dir():
        return "it is not a folder here"
    resolved, inside = path.resolve(), revisited.resolve()
    if resolved == inside or inside in resolved.parents:
        return "it lies inside the folder being revisited"
    info = resolved.stat()
    if info.st_uid not in (0, os.getuid()):
        return "another user owns it"
    if info.st_mode & (stat.S_IWOTH | stat.S_IWGRP):
        return "others may write into it"
    return None


def trusted(
    folder: Path, sources: dict[str, list[str]], choices: dict[str, Any]
) -> tuple[list[Path], list[Path], list[str]]:
    """``(config folders, import roots, notes)``: the recorded ones ``folder``'s revisit may
    use, and a note for each one left out (why)."""
    notes, dirs, roots = [], [], []
    options = [f"{group}/{option}.yaml" for group, option in choices.items()
               if isinstance(option, str) and "hydra" not in group]  # fmt: skip
    for text in sources.get("config_dirs", []):
        path = Path(text)
        why = untrusted(path, folder)
        if why is None and not any((path / option).is_file() for option in options):
            why = "it holds none of the options the run chose"
        if why:
            notes.append(f"the recorded config folder {text} is not used: {why}")
        else:
            dirs.append(path.resolve())
    for text in sources.get("import_roots", []):
        why = untrusted(Path(text), folder)
        if why:
            notes.append(f"the recorded import root {text} is not used: {why}")
        else:
            roots.append(Path(text).resolve())
    return dirs, roots, notes


def use_import_roots(roots: Sequence[Path]) -> None:
    """Put ``roots`` on sys.path (and PYTHONPATH, for launcher processes), after the entries the
    shell set: a module the user's own PYTHONPATH holds wins."""
    for root in roots:
        if str(root) not in sys.path:
            sys.path.append(str(root))
    entries = [e for e in os.environ.get("PYTHONPATH", "").split(os.pathsep) if e]
    entries += [str(root) for root in roots if str(root) not in entries]
    if entries:
        os.environ["PYTHONPATH"] = os.pathsep.join(entries)


def find_sources(
    folder: Path, record: dict[str, Any] | None, choices: dict[str, Any], given: Sequence[Path]
) -> list[Path]:
    """The config folders for revisiting ``folder``: ``given`` (--config-dir) when there are
    any, else the recorded ones it trusts; its trusted import roots go on sys.path either way.
    Prints each recorded folder left out, and why."""
    dirs, roots, notes = trusted(folder, read_sources(folder, record), choices)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    use_import_roots(roots)
    if given:
        return list(given)
    return dirs


def config_dir_args(dirs: Sequence[str | Path]) -> str:
    """`` --config-dir DIR`` for each folder: what a printed command needs to work pasted."""
    from shlex import quote

    return "".join(f" --config-dir {quote(str(d))}" for d in dirs)


def check_given(dirs: Sequence[Path]) -> None:
    for path in dirs:
        if not path.is_dir():
            raise UserError(f"--config-dir {path}: no such folder")
