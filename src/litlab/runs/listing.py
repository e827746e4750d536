"""``litlab runs [FOLDER]``: every run under a folder, one row each, read from the run folders.

Rows: experiment, start time, status, overrides, the run's optimized metric and its test metric,
and the folder; oldest first, or best first by ``--sort METRIC``; ``--csv`` for a spreadsheet.
A folder whose files cannot be read is listed as ``unreadable``, with the reason.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from rich import box
from rich.table import Table

from litlab.errors import UserError
from litlab.runs.folder import Run, counted, find_run_folders
from litlab.runs.terminal import console, format_value, styled_status

DEFAULT_ROOT = Path("outputs")
GAP, MIN_OVERRIDES = 3, 12  # between columns; the narrowest the overrides get
LOWER_IS_BETTER = ("loss", "mse", "error", "time")  # in the name of a metric that is no
# run's optimized metric: sort it lowest first (otherwise highest first, like accuracy)
CSV_COLUMNS = ["experiment", "started", "status", "overrides", "origin", "optimized_metric",
               "optimized", "test_metric", "test", "error", "folder"]  # fmt: skip


def list_runs(root: Path, experiment: str | None = None, sort: str | None = None) -> list[Run]:
    """The runs under ``root``, oldest first, or best first by the metric ``sort``."""
    if not root.exists():
        raise UserError(f"{root}: no such folder")
    if not root.is_dir():
        raise UserError(f"{root} is not a folder")
    runs = sorted((Run(f) for f in find_run_folders(root)), key=lambda r: r.started)
    if experiment:
        found = sorted({run.experiment for run in runs})
        runs = [run for run in runs if run.experiment == experiment]
        if not runs and found:
            raise UserError(
                f"no runs of experiment {experiment!r} under {root}; "
                f"there are runs of: {', '.join(found)}"
            )
    return sort_runs(runs, sort) if sort and runs else runs


def direction(runs: Sequence[Run], metric: str) -> str:
    """``min`` or ``max``: the runs' optimized_metric_mode where it is their optimized metric."""
    modes = {run.optimized_mode for run in runs if run.optimized_metric == metric}
    if len(modes) == 1:
        return modes.pop()
    return "min" if any(word in metric for word in LOWER_IS_BETTER) else "max"


def sort_runs(runs: Sequence[Run], metric: str) -> list[Run]:
    """Best first by ``metric``; runs without a finite value of it last, oldest first."""
    if not any(metric in run.metrics for run in runs):
        names = sorted({name for run in runs for name in run.metrics})
        raise UserError(
            f"cannot sort by {metric!r}: none of these runs has it. "
            f"Their metrics: {', '.join(names) or 'none (no run finished)'}"
        )
    sign = -1.0 if direction(runs, metric) == "max" else 1.0
    ranked = [r for r in runs if math.isfinite(r.metrics.get(metric, math.nan))]
    ranked.sort(key=lambda run: sign * run.metrics[metric])
    return ranked + [run for run in runs if run not in ranked]


def row(run: Run, sort: str | None) -> dict[str, str]:
    """One run as the CSV writes it (the table shows the same values, shortened)."""
    values = {
        "experiment": run.experiment,
        "started": run.started.isoformat(timespec="seconds"),
        "status": run.status,
        "overrides": " ".join(run.overrides),
        "origin": " ".join(run.origin.values()),
        "optimized_metric": run.optimized_metric or "",
        "optimized": run.metrics.get(run.optimized_metric or "", ""),
        "test_metric": run.test_metric or "",
        "test": run.metrics.get(run.test_metric or "", ""),
        "error": run.error or "",
        "folder": str(run.folder),
    }
    if sort:
        values[sort] = run.metrics.get(sort, "")
    return {key: str(value) for key, value in values.items()}


def write_csv(runs: Sequence[Run], sort: str | None) -> None:
    columns = CSV_COLUMNS + ([sort] if sort else [])
    writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(row(run, sort) for run in runs)


def shared_overrides(runs: Sequence[Run]) -> list[str]:
    """The overrides every run has (shown once, under the table), when there are several."""
    if len(runs) < 2:
        return []
    common = set(runs[0].overrides_without("experiment"))
    for run in runs[1:]:
        common &= set(run.overrides)
    return [o for o in runs[0].overrides if o in common]


def caption(runs: Sequence[Run]) -> str:
    """Which metric the optimized and test columns hold, per experiment; the shared overrides."""
    parts = []
    for experiment in dict.fromkeys(run.experiment for run in runs):
        of = [run for run in runs if run.experiment == experiment]
        optimized = next((r.optimized_metric for r in of if r.optimized_metric), None)
        test = next((r.test_metric for r in of if r.test_metric), None)
        better = "higher" if of[0].optimized_mode == "max" else "lower"
        parts.append(
            f"{experiment}: optimized = {optimized or '–'} ({better} is better), "
            f"test = {test or '–'}"
        )
    shared = shared_overrides(runs)
    if shared:
        parts.append("every run: " + " ".join(shared))
    return "\n".join(parts)


def what(run: Run, shared: Sequence[str]) -> str:
    """The run's own overrides (less those every run has); what a rerun/resume made it from;
    why an unreadable run is."""
    if run.problem:
        return run.problem
    hidden = ("experiment", "ckpt_path") if run.origin else ("experiment",)
    text = " ".join(o for o in run.overrides_without(*hidden) if o not in shared)
    origin = run.origin
    if origin:  # e.g. "resume of 2026-11-29/10-41-07-512345:"
        source = "/".join(Path(str(origin.get("run"))).parts[-2:])
        text = f"{origin.get('command')} of {source}: {text}"
    return text or "–"


def table(runs: Sequence[Run], sort: str | None, width: int) -> Table:
    """Fits ``width`` if it can: every column at its natural width but the overrides, which
    give way (they wrap); a folder is never broken (a table wider than ``width`` then)."""
    shown_sort = (
        sort
        if sort and any(sort not in (run.optimized_metric, run.test_metric) for run in runs)
        else None
    )
    shared = shared_overrides(runs)
    columns: dict[str, list[str]] = {
        "experiment": [run.experiment for run in runs],
        "started": [f"{run.started:%Y-%m-%d %H:%M}" for run in runs],
        "status": [run.status for run in runs],
        "overrides": [what(run, shared) for run in runs],
        "optimized": [format_value(run.metrics.get(run.optimized_metric or "")) for run in runs],
        "test": [format_value(run.metrics.get(run.test_metric or "")) for run in runs],
    }
    if shown_sort:
        columns[shown_sort] = [format_value(run.metrics.get(shown_sort)) for run in runs]
    columns["folder"] = [str(run.folder) for run in runs]
    natural = {name: max(len(name), *map(len, cells)) for name, cells in columns.items()}
    rest = sum(natural.values()) - natural["overrides"] + GAP * (len(columns) - 1)
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in columns:
        wrap = name == "overrides"
        right = name in ("optimized", "test", shown_sort)
        size = min(natural[name], max(width - rest, MIN_OVERRIDES)) if wrap else natural[name]
        t.add_column(name, width=size, no_wrap=not wrap, overflow="fold",
                     justify="right" if right else "left")  # fmt: skip
    for i, run in enumerate(runs):
        cells = [cells[i] for cells in columns.values()]
        cells[2] = styled_status(run.status)
        t.add_row(*cells)
    return t


def command(args: argparse.Namespace) -> int:
    runs = list_runs(args.folder, args.experiment, args.sort)
    if args.csv:
        write_csv(runs, args.sort)
        return 0
    out = console(piped_width=None)  # piped: one line a run, for grep
    if not runs:
        out.print(f"No runs under {args.folder}.")
        return 0
    runs_table = table(runs, args.sort, out.width)
    needed = sum(column.width or 0 for column in runs_table.columns)
    out.width = max(out.width, needed + GAP * (len(runs_table.columns) - 1))  # never a broken path
    out.print(runs_table, crop=False)
    out.print(caption(runs), style="dim")
    out.print(counted(runs))
    return 0


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "runs",
        help="list the runs under a folder",
        description="List every run under FOLDER (default outputs/), one row each, oldest "
        "first: experiment, start time, status, overrides, optimized and test metric, folder.",
    )
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_ROOT, metavar="FOLDER")
    parser.add_argument("--experiment", metavar="NAME", help="only the runs of this experiment")
    parser.add_argument("--sort", metavar="METRIC", help="best first by this metric, e.g. val/acc")
    parser.add_argument("--csv", action="store_true", help="plain CSV on stdout, all columns")
    parser.set_defaults(func=command)
