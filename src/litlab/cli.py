"""``litlab <command>``: the tools that work on run folders. Each command is a module with
``add_subcommand(subparsers)``, which registers its parser with ``set_defaults(func=...)``;
``func(args)`` returns the exit code."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMANDS = ("litlab.runs.rerun", "litlab.runs.resume")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="litlab", description="Tools for run folders.")
    subparsers = parser.add_subparsers(title="commands", required=True, metavar="<command>")
    for name in COMMANDS:
        importlib.import_module(name).add_subcommand(subparsers)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
