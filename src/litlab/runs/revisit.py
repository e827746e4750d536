"""A finished run again, from its folder: its config plus the overrides given now, run as train.py.

The new run is an ordinary train.py run (its own run folder, console, train.log), started with
the stored run's overrides, the fixes that make conf/ compose its stored config exactly (see
``stored_config.rebuild``), and the new overrides last; its ``.hydra/overrides.yaml`` and
``run_record.json`` therefore hold a command that repeats it.
"""

from __future__ import annotations

import runpy
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser

from litlab.errors import UserError
from litlab.runs.checkpoints import best_checkpoint, newest_checkpoint
from litlab.runs.folder import RECORD_FILE, read_json
from litlab.runs.stored_config import (
    CONF_DIR,
    TRAIN_PY,
    check_targets,
    compose_config,
    path_value,
    read_run,
    rebuild,
)


def override_keys(overrides: Sequence[str]) -> set[str]:
    """``["logger=none", "+a.b=1", "~c"]`` -> ``{"logger", "a.b", "c"}`` (groups with dots)."""
    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except Exception as error:  # noqa: BLE001 - Hydra's parse error says what is wrong
        raise UserError(f"cannot read the overrides: {error}") from error
    return {override.key_or_group.replace("/", ".") for override in parsed}


def global_groups() -> set[str]:
    """Config groups whose options set keys anywhere (``# @package _global_``): experiment, ..."""
    options = CONF_DIR.glob("*/*.yaml")
    return {path.parent.name for path in options if "@package _global_" in path.read_text()}


def touches(key: str, keys: set[str]) -> bool:
    return any(key == k or key.startswith(k + ".") or k.startswith(key + ".") for k in keys)


def fix_key(fix: str) -> str:
    return fix.removeprefix("~").removeprefix("++").split("=", 1)[0]


def revisit_overrides(folder: Path, new: Sequence[str], resume: bool) -> list[str]:
    """train.py's overrides for running ``folder`` again (``resume``: from its newest checkpoint)
    with ``new`` on top; prints what it added. Checks every ``_target_`` before returning."""
    run = read_run(folder)
    keys = override_keys(new)
    # the stored values conf/ composes differently today, unless the new overrides set them
    fixes = [] if keys & global_groups() else rebuild(run)
    fixes = [fix for fix in fixes if not touches(fix_key(fix), keys)]
    if fixes:
        print(f"Kept the run's values where conf/ now differs: {' '.join(fixes)}")
    added = []
    record = read_json(folder / RECORD_FILE) or {}
    if run.config.get("seed") is None and "seed" not in keys and record.get("seed") is not None:
        added.append(f"seed={record['seed']}")  # seed=null: the seed that run drew
    cfg = compose_config([*run.overrides, *fixes, *added, *new])
    check_targets(cfg)
    if resume and not cfg.train:
        raise UserError(
            "resume continues training; to test a run's checkpoint use "
            f"litlab rerun {folder} train=false"
        )
    if "ckpt_path" not in keys and (resume or (cfg.test and not cfg.train)):
        ckpt = newest_checkpoint(folder) if resume else best_checkpoint(folder)
        if ckpt is None:
            raise UserError(
                f"{folder} holds no checkpoint to {'continue from' if resume else 'test'} "
                "(checkpoints/last.ckpt, checkpoints/interrupted.ckpt); pass ckpt_path=<file>"
            )
        added.append(f"ckpt_path={path_value(ckpt)}")
    return [*run.overrides, *fixes, *added, *new]


def start(args: Sequence[str], dry_run: bool = False) -> int:
    """Run train.py with ``args`` (``dry_run``: print the command only); its exit code."""
    if dry_run:
        print("python train.py " + shlex.join(args))
        return 0
    return run_train_py(args)


def run_train_py(args: Sequence[str]) -> int:
    """``python train.py *args`` in this process (signals reach it); returns its exit code."""
    print("python train.py " + shlex.join(args), flush=True)
    argv = sys.argv
    sys.argv = [str(TRAIN_PY), *args]
    try:
        runpy.run_path(str(TRAIN_PY), run_name="__main__")
    except SystemExit as exit_:  # train.py's own code: 2 for a UserError, 143 for SIGTERM, ...
        if exit_.code is None or isinstance(exit_.code, int):
            return exit_.code or 0
        print(exit_.code, file=sys.stderr)
        return 1
    finally:
        sys.argv = argv
    return 0
