"""``litlab resume <run or sweep folder> [overrides]``: go on where it stopped.

A run folder: continue training from its newest checkpoint (``interrupted.ckpt`` or
``last.ckpt``) with its config plus the overrides, e.g. ``trainer.max_epochs=40``, in a new run
folder. A sweep folder: finish the sweep in that folder (``litlab.runs.sweep_resume``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from litlab.runs.revisit import revisit_overrides, start
from litlab.runs.stored_config import SWEEP_RECORD
from litlab.runs.sweep_resume import sweep_overrides


def resume(args: argparse.Namespace) -> int:
    folder, overrides = args.folder, args.overrides
    if (folder / SWEEP_RECORD).is_file():
        return start(sweep_overrides(folder, overrides), args.dry_run)
    return start(revisit_overrides(folder, overrides, resume=True), args.dry_run)


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "resume",
        help="continue a run from its last checkpoint (new folder), or finish a sweep",
        description="A run folder: continue training from its newest checkpoint, with its config "
        "plus the overrides given here (e.g. trainer.max_epochs=40), in a new run folder. A sweep "
        "folder: run its jobs that did not complete, each in its own folder (from its own "
        "checkpoint where it has one); overrides may change only the launcher "
        "(hydra/launcher=..., hydra.launcher.*) and hydra.sweeper.n_trials.",
    )
    parser.add_argument("folder", type=Path, help="a run folder, or a sweep folder (multirun)")
    parser.add_argument("overrides", nargs="*", help="key=value or group=option, as for train.py")
    parser.add_argument("--dry-run", action="store_true", help="print the train.py command only")
    parser.set_defaults(func=resume)
