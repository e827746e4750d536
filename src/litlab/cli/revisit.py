"""``litlab rerun <run> [overrides]`` and ``litlab resume <run or sweep> [overrides]``.

The new run is an ordinary train.py run in its own folder, started with the stored run's
overrides, the fixes that make conf/ compose its stored config exactly (``rebuild``), and the new
overrides last; every ``_target_`` it would build is checked first. Its config folders are the
``--config-dir``s given, else those the folder recorded and ``litlab.run_folder.sources`` trusts. A
sweep is finished in its own folder (``litlab.sweeps.resume``).
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from litlab.errors import UserError
from litlab.run_folder.checkpoints import best_checkpoint, newest_checkpoint
from litlab.run_folder.folder import (
    ORIGIN_ENV,
    SWEEP_RECORD,
    find_jobs,
    parse_overrides,
    read_run,
    read_sweep_record,
)
from litlab.run_folder.sources import check_given, config_dir_args, find_sources
from litlab.run_folder.status import COMPLETED, RUNNING
from litlab.run_folder.stored_config import (
    CONF_DIR,
    TRAIN_PY,
    check_stored,
    check_targets,
    compose_config,
    path_value,
    rebuild,
    search_path,
)

LONGER = ("trainer.max_epochs", "trainer.max_steps", "trainer.max_time")  # resume a completed run


def touches(key: str, keys: set[str]) -> bool:
    return any(key == k or key.startswith(k + ".") or k.startswith(key + ".") for k in keys)


def revisit_overrides(
    folder: Path, new: Sequence[str], resume: bool, config_dirs: Sequence[Path] = ()
) -> list[str]:
    """train.py's overrides for running ``folder`` again (``resume``: from its newest checkpoint)
    with ``new`` on top; prints what it added. Checks every ``_target_`` before returning."""
    run = read_run(folder, readable=True)
    keys = {key.lstrip("~") for key, _ in parse_overrides(new)}
    check_stored(run)
    config_dirs = find_sources(folder, run.record, run.choices, config_dirs)
    # the stored values conf/ composes differently today, unless the new overrides set them or
    # choose an option of a group that sets keys anywhere (``# @package _global_``: experiment)
    options = [path for folder in (CONF_DIR, *config_dirs) for path in folder.glob("*/*.yaml")]
    global_groups = {p.parent.name for p in options if "@package _global_" in p.read_text()}
    fixes = [] if keys & global_groups else rebuild(run, config_dirs)
    fixed = [key.lstrip("~") for key, _ in parse_overrides(fixes)]
    fixes = [fix for fix, key in zip(fixes, fixed, strict=True) if not touches(key, keys)]
    if fixes:
        print(f"Kept the run's values where conf/ now differs: {' '.join(fixes)}")
    added = []
    seed = (run.record or {}).get("seed")
    if run.config.get("seed") is None and "seed" not in keys and isinstance(seed, int):
        added.append(f"seed={seed}")  # seed=null: the seed that run drew
    cfg = compose_config([*run.overrides, *fixes, *added, *new], config_dirs=config_dirs)
    check_targets(cfg, config_dirs)
    again = f"litlab {'resume' if resume else 'rerun'} {folder}{config_dir_args(config_dirs)}"
    if not cfg.train and not cfg.test:
        raise UserError(
            "train=false with test: false: nothing to do (train=false tests the run's best "
            "checkpoint, and this config evaluates nothing: test: false, e.g. an experiment "
            f"without a test set); with a test set: {again} train=false test=true"
        )
    if resume and not cfg.train:
        raise UserError(
            "resume continues training; to test a run's checkpoint use "
            f"litlab rerun {folder}{config_dir_args(config_dirs)} train=false"
        )
    if resume and run.status == COMPLETED and not keys & set(LONGER):
        raise UserError(
            f"{folder} is complete (trainer.max_epochs={cfg.trainer.get('max_epochs')}): "
            f"nothing to resume. Train it further with: {again} trainer.max_epochs=<more>"
        )
    stored = run.overrides
    if "ckpt_path" not in keys and (resume or (cfg.test and not cfg.train)):
        ckpt = newest_checkpoint(folder) if resume else best_checkpoint(folder)
        if ckpt is None:
            raise UserError(
                f"{folder} holds no checkpoint to {'continue from' if resume else 'test'} "
                "(checkpoints/last.ckpt, checkpoints/interrupted.ckpt); pass ckpt_path=<file>"
            )
        stored = run.overrides_without("ckpt_path")  # a resumed run's: this one replaces it
        added.append(f"ckpt_path={path_value(ckpt)}")
    return [*stored, *fixes, *added, *new, *search_path(config_dirs)]


def check_not_running(sweep_dir: Path, force: bool) -> None:
    """No job of the sweep may still run: two processes would write one job folder. An
    unreadable job is said, and runs again."""
    for job in find_jobs(sweep_dir):
        if job.problem:
            print(f"job {job.name} of {sweep_dir} is unreadable ({job.problem}): it runs again")
        status = job.run_status
        if status.status != RUNNING:
            continue
        if status.here:
            raise UserError(
                f"job {job.name} of {sweep_dir} is still running (process {status.pid} on this "
                "machine): resume the sweep once it has stopped"
            )
        if not force:
            raise UserError(
                f"job {job.name} of {sweep_dir} says it is running on {status.host}; if it no "
                "longer runs there, resume with --force"
            )


def start(args: Sequence[str], dry_run: bool, origin: dict[str, str]) -> int:
    """Run train.py with ``args`` in this process (signals reach it), or (``dry_run``) print
    the command only; the exit code."""
    print("python train.py " + shlex.join(args), flush=True)
    if dry_run:
        return 0
    argv = sys.argv
    sys.argv = [str(TRAIN_PY), *args]
    os.environ[ORIGIN_ENV] = json.dumps(origin)  # into its run_record.json
    try:
        runpy.run_path(str(TRAIN_PY), run_name="__main__")
    except SystemExit as exit_:  # train.py's own code: 2 for a UserError, 143 for SIGTERM, ...
        if exit_.code is None or isinstance(exit_.code, int):
            return exit_.code or 0
        print(exit_.code, file=sys.stderr)
        return 1
    finally:
        sys.argv = argv
        os.environ.pop(ORIGIN_ENV, None)
    return 0


def command(args: argparse.Namespace) -> int:
    folder, resume = args.folder, args.command == "resume"
    dirs = [path.resolve() for path in args.config_dir]
    check_given(dirs)
    if resume and (folder / SWEEP_RECORD).is_file():
        from litlab.sweeps.resume import sweep_overrides  # the Optuna sweeper: only here

        record = read_sweep_record(folder)
        check_not_running(folder, args.force)
        choices = (record.get("runtime") or {}).get("choices") or {}
        dirs = find_sources(folder, None, choices, dirs)
        overrides = sweep_overrides(folder, args.overrides, dirs)
    else:
        overrides = revisit_overrides(folder, args.overrides, resume, dirs)
    origin = {"command": args.command, "run": str(folder.resolve())}
    return start(overrides, args.dry_run, origin)


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    rerun = subparsers.add_parser(
        "rerun",
        help="a run folder's config again, plus overrides (train=false: test its best checkpoint)",
        description="Run the config of <run folder> again, with the overrides given here on top, "
        "in a new run folder. With train=false and no ckpt_path: test its best checkpoint.",
    )
    resume = subparsers.add_parser(
        "resume",
        help="continue a run from its last checkpoint (new folder), or finish a sweep",
        description="A run folder: continue training from its newest checkpoint, with its config "
        "plus the overrides given here (e.g. trainer.max_epochs=40), in a new run folder; a "
        "completed run needs a longer trainer.max_epochs. A sweep folder: run its jobs that did "
        "not complete, each in its own folder (from its own checkpoint where it has one); "
        "overrides may change only the launcher (hydra/launcher=..., hydra.launcher.*) and "
        "hydra.sweeper.n_trials.",
    )
    resume.add_argument(
        "--force", action="store_true", help="resume a sweep whose jobs say they run elsewhere"
    )
    for name, parser in (("rerun", rerun), ("resume", resume)):
        parser.add_argument("folder", type=Path, help="a run folder (resume: or a sweep folder)")
        parser.add_argument(
            "overrides", nargs="*", help="key=value or group=option, as for train.py"
        )
        parser.add_argument("--config-dir", type=Path, action="append", default=[], metavar="DIR",
                            help="a folder of your own configs the run used (Hydra's search "
                            "path); repeatable")  # fmt: skip
        parser.add_argument(
            "--dry-run", action="store_true", help="print the train.py command only"
        )
        parser.set_defaults(func=command, command=name)
