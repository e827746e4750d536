"""``litlab runs [FOLDER]``: every run under a folder, one row each, read from the run folders.

Rows: experiment, start time, status, overrides, the run's optimized metric and its test metric,
and the folder; oldest first, or best first by ``--sort METRIC``; ``--csv`` for a spreadsheet.
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
from litlab.runs.folder import Run, find_run_folders, read_run
from litlab.runs.status import STATUSES
from litlab.runs.terminal import console, format_value, shorten, styled_status, wrap_path

DEFAULT_ROOT = Path("outputs")
GAP, MIN_OVERRIDES = 1, 12  # spaces between columns; the narrowest overrides column
LOWER_IS_BETTER = ("loss", "mse", "error", "time")  # in the name of a metric that is no
# run's optimized metric: sort it lowest first (otherwise highest first, like accuracy)
CSV_COLUMNS = [
    "experiment",
    "started",
    "status",
    "overrides",
    "optimized_metric",
    "optimized",
    "test_metric",
    "test",
    "error",
    "folder",
]


def list_runs(root: Path, experiment: str | None = None, sort: str | None = None) -> list[Run]:
    """The runs under ``root``, oldest first, or best first by the metric ``sort``."""
    if not root.exists():
        raise UserError(f"{root}: no such folder")
    if not root.is_dir():
        raise UserError(f"{root} is not a folder")
    runs = sorted((read_run(f) for f in find_run_folders(root)), key=lambda r: r.started)
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
        "status": run.status.status,
        "overrides": " ".join(run.overrides),
        "optimized_metric": run.optimized_metric or "",
        "optimized": run.metrics.get(run.optimized_metric or "", ""),
        "test_metric": run.test_metric or "",
        "test": run.metrics.get(run.test_metric or "", ""),
        "error": run.status.error or "",
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


def lines_needed(path: str, width: int) -> int:
    return wrap_path(path, width).count("\n") + 1


def folder_width(folders: Sequence[str], room: int) -> int:
    """The narrowest width that breaks every folder into the fewest lines, within ``room``."""
    longest = max(map(len, folders))
    if longest <= room:
        return longest
    for lines in range(2, 6):  # the fewest lines that fit, then the narrowest width for them
        fits = [w for w in range(8, max(room, 8) + 1)
                if all(lines_needed(f, w) <= lines for f in folders)]  # fmt: skip
        if fits:
            return fits[0]
    return max(room, 8)


def table(runs: Sequence[Run], sort: str | None, width: int) -> Table:
    """Fits ``width``: fixed columns at their natural width, the rest shared by the overrides
    (shortened with …) and the folder (broken at '/')."""
    shown_sort = (
        sort
        if sort and any(sort not in (run.optimized_metric, run.test_metric) for run in runs)
        else None
    )
    fixed: dict[str, list[str]] = {
        "experiment": [run.experiment for run in runs],
        "started": [f"{run.started:%Y-%m-%d %H:%M}" for run in runs],
        "status": [run.status.status for run in runs],
        "optimized": [format_value(run.metrics.get(run.optimized_metric or "")) for run in runs],
        "test": [format_value(run.metrics.get(run.test_metric or "")) for run in runs],
    }
    if shown_sort:
        fixed[shown_sort] = [format_value(run.metrics.get(shown_sort)) for run in runs]
    shared = shared_overrides(runs)
    overrides = [
        " ".join(o for o in run.overrides_without("experiment") if o not in shared) or "–"
        for run in runs
    ]
    folders = [str(run.folder) for run in runs]
    natural = {name: max(len(name), *map(len, cells)) for name, cells in fixed.items()}
    spare = width - sum(natural.values()) - GAP * (len(fixed) + 1)
    folder_w = folder_width(folders, spare - MIN_OVERRIDES)
    over_w = max(min(max(map(len, overrides)), spare - folder_w), MIN_OVERRIDES)

    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, GAP - 1))
    for name in ("experiment", "started", "status"):
        t.add_column(name, no_wrap=True, width=natural[name])
    t.add_column("overrides", width=over_w, overflow="fold")
    metric_columns = ["optimized", "test"] + ([shown_sort] if shown_sort else [])
    for name in metric_columns:
        t.add_column(name, no_wrap=True, justify="right", width=natural[name])
    t.add_column("folder", width=folder_w, overflow="fold")
    for i, run in enumerate(runs):
        folder = wrap_path(folders[i], folder_w)
        lines = folder.count("\n") + 1  # the overrides may use as many lines as the folder
        cells = [fixed[name][i] for name in ("experiment", "started")]
        cells += [styled_status(run.status.status), shorten(overrides[i], over_w * lines)]
        cells += [fixed[name][i] for name in metric_columns]
        t.add_row(*cells, folder)
    return t


def summary_line(runs: Sequence[Run]) -> str:
    counts = {s: sum(run.status.status == s for run in runs) for s in STATUSES}
    counted = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    return f"{len(runs)} run{'s' if len(runs) != 1 else ''}: {counted}"


def command(args: argparse.Namespace) -> int:
    runs = list_runs(args.folder, args.experiment, args.sort)
    if args.csv:
        write_csv(runs, args.sort)
        return 0
    out = console()
    if not runs:
        out.print(f"No runs under {args.folder}.")
        return 0
    out.print(table(runs, args.sort, out.width))
    out.print(caption(runs), style="dim")
    out.print(summary_line(runs))
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
