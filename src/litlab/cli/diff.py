"""``litlab diff RUN_A RUN_B``: two runs side by side, from their folders alone -- the config keys
that differ, the metrics, and from their run records the git commit, versions and hardware."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table

from litlab.cli.terminal import console, format_value, styled_status
from litlab.run_folder.folder import ABSENT, Run, config_changes, read_run

RECORD_SECTIONS = ("git", "versions", "hardware")  # compared, key by key, from run_record.json


def show(value: Any) -> str:
    """A config value as it reads in YAML: null, true, 0.001, [1024, 512]."""
    if value is ABSENT:
        return "(absent)"
    return json.dumps(value) if value is None or isinstance(value, bool) else str(value)


def config_differences(a: Run, b: Run) -> dict[str, tuple[Any, Any]]:
    return config_changes(a.config, b.config)


def side_by_side(title: str, first: str = "") -> Table:
    t = Table(title=title, title_justify="left", title_style="bold", box=box.SIMPLE_HEAD,
              show_edge=False, pad_edge=False, collapse_padding=True)  # fmt: skip
    t.add_column(first, no_wrap=True)
    for name in ("A", "B"):
        t.add_column(name, overflow="fold", ratio=1)
    return t


def runs_table(a: Run, b: Run) -> Table:
    t = side_by_side("Runs")
    t.add_row("folder", str(a.folder), str(b.folder))
    t.add_row("experiment", a.experiment, b.experiment)
    if a.origin or b.origin:  # made by litlab rerun/resume
        t.add_row("made by", *(" of ".join(run.origin.values()) or "–" for run in (a, b)))
    t.add_row("status", styled_status(a.status), styled_status(b.status))
    if a.error or b.error:
        t.add_row("error", a.error or "", b.error or "")
    t.add_row("started", *(f"{run.started:%Y-%m-%d %H:%M:%S}" for run in (a, b)))
    t.add_row("overrides", *(" ".join(run.used_overrides()) or "–" for run in (a, b)))
    return t


def metrics_table(a: Run, b: Run) -> Table:
    t = side_by_side("Metrics", "metric")
    t.add_column("B − A", justify="right", no_wrap=True)
    for name in sorted(a.metrics.keys() | b.metrics.keys()):
        value_a, value_b = a.metrics.get(name, math.nan), b.metrics.get(name, math.nan)
        change = f"{value_b - value_a:+.4g}" if math.isfinite(value_b - value_a) else ""
        t.add_row(name, *(format_value(run.metrics.get(name)) for run in (a, b)), change)
    return t


def print_diff(a: Run, b: Run) -> int:
    out = console()
    out.print(runs_table(a, b), "")
    differences = config_differences(a, b)
    if differences:
        n = len(differences)
        t = side_by_side(f"Config: {n} key{'s' if n != 1 else ''} differ", "key")
        for key, (value_a, value_b) in differences.items():
            t.add_row(key, show(value_a), show(value_b))
        out.print(t, "")
    else:
        out.print("[bold]Config: identical[/bold]\n")
    if a.metrics or b.metrics:
        out.print(metrics_table(a, b), "")
    else:
        out.print("[bold]Metrics:[/bold] neither run wrote metrics.json\n")
    rows = []  # (key, a, b) for the git state, versions and hardware of both run records
    for section in RECORD_SECTIONS:
        part_a, part_b = (part if isinstance(part := (run.record or {}).get(section), dict)
                          else {} for run in (a, b))  # fmt: skip
        for key in dict.fromkeys([*part_a, *part_b]):
            pair = [part.get(key, ABSENT) for part in (part_a, part_b)]
            if key == "commit":  # 12 hex digits, as `git log --abbrev=12` shows them
                pair = [value[:12] if isinstance(value, str) else value for value in pair]
            rows.append((f"{section}.{key}", *pair))
    if rows and all(value_a == value_b for _, value_a, value_b in rows):
        out.print(f"[bold]Run records:[/bold] equal ({len(rows)} values of git, versions, "
                  "hardware)")  # fmt: skip
    elif rows:
        t = side_by_side("Run records (≠: differs)")
        t.add_column("", no_wrap=True)  # the ≠ mark, last so that A and B stay side by side
        for key, value_a, value_b in rows:
            same = value_a == value_b
            t.add_row(key, show(value_a), show(value_b), "" if same else "≠",
                      style=None if same else "bold")  # fmt: skip
        out.print(t)
    missing = [name for name, run in (("A", a), ("B", b)) if run.record is None]
    if missing:
        out.print(f"No run_record.json in {' and '.join(missing)} (older run, or it failed "
                  "before it was set up).")  # fmt: skip
    return 0


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "diff",
        help="compare two runs side by side",
        description="Compare two run folders: the config keys that differ, their metrics, and "
        "their git commit, versions and hardware (from run_record.json).",
    )
    parser.add_argument("run_a", type=Path, metavar="RUN_A", help="a run folder")
    parser.add_argument("run_b", type=Path, metavar="RUN_B", help="another run folder")
    parser.set_defaults(func=lambda args: print_diff(read_run(args.run_a), read_run(args.run_b)))
