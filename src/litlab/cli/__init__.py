"""``litlab``: the run tools, one subcommand each (``litlab runs``, ``litlab diff``, ...), thin
commands over the run-folder model (``litlab.run_folder.folder.Run``).

Each subcommand lives in a module of ``litlab.cli`` (a sweep's in ``litlab.sweeps``) with
``add_subcommand(subparsers)``: it adds its parser(s) and sets ``func``, called with the parsed
arguments and returning the exit code. A ``UserError`` from it (no such folder, not a run
folder, ...) prints ``error: ...`` and exits 2.

Owns: the verbs ``runs`` (``listing``), ``diff``, ``rerun``/``resume`` (``revisit``), and their
terminal output (``terminal``). May import: everything below it (``litlab.sweeps``,
``litlab.run_folder``, ...); nothing imports it but ``litlab.__main__`` and the script entry.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from litlab.cli import diff, listing, revisit
from litlab.errors import UserError
from litlab.sweeps import summary

SUBCOMMANDS = (
    listing,  # litlab runs
    diff,  # litlab diff
    summary,  # litlab summary
    revisit,  # litlab rerun, litlab resume
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="litlab", description="Tools for the runs train.py left in their folders."
    )
    subparsers = parser.add_subparsers(metavar="COMMAND", required=True)
    for module in SUBCOMMANDS:
        module.add_subcommand(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # Overrides may follow options (``rerun RUN --config-dir DIR train=false``), which a
    # positional list after an option does not take: they come back as extras.
    args, extra = parser.parse_known_args(argv)
    if extra and (not hasattr(args, "overrides") or any(a.startswith("-") for a in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    try:
        return args.func(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def summary_alias(argv: Sequence[str] | None = None) -> int:
    """``litlab-summary SWEEP_DIR``: the older name of ``litlab summary``, kept as an alias."""
    return main(["summary", *(sys.argv[1:] if argv is None else argv)])
