"""``litlab rerun <run folder> [overrides]``: the run's config plus the overrides, as a new run.

E.g. ``litlab rerun <run> train=false`` tests the run's best checkpoint on the test set, and
``litlab rerun <run> seed=7`` repeats it with another seed, without retyping its overrides.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from litlab.runs.revisit import revisit_overrides, start


def rerun(args: argparse.Namespace) -> int:
    return start(revisit_overrides(args.run_dir, args.overrides, resume=False), args.dry_run)


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rerun",
        help="a run folder's config again, plus overrides (train=false: test its best checkpoint)",
        description="Run the config of <run folder> again, with the overrides given here on top, "
        "in a new run folder. With train=false and no ckpt_path: test its best checkpoint.",
    )
    parser.add_argument("run_dir", type=Path, help="outputs/<experiment>/<date>/<time>")
    parser.add_argument("overrides", nargs="*", help="key=value or group=option, as for train.py")
    parser.add_argument("--dry-run", action="store_true", help="print the train.py command only")
    parser.set_defaults(func=rerun)
