"""``litlab runs [FOLDER]``: every run under a folder, one row each, oldest first (or best
first by ``--sort METRIC``); an unreadable folder is listed as such, with the reason."""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from rich import box
from rich.measure import Measurement
from rich.table import Table

from litlab.cli.terminal import UNLIMITED, console, format_value, styled_status
from litlab.errors import UserError
from litlab.run_folder.folder import Run, counted, find_run_folders

DEFAULT_ROOT = Path("outputs")
MIN_OVERRIDES = 12  # the narrowest the overrides column gets
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


def sort_runs(runs: Sequence[Run], metric: str) -> list[Run]:
    """Best first by ``metric`` (the runs' optimized_metric_mode where it is their optimized
    metric); runs without a finite value of it last, oldest first."""
    if not any(metric in run.metrics for run in runs):
        names = sorted({name for run in runs for name in run.metrics})
        raise UserError(
            f"cannot sort by {metric!r}: none of these runs has it. "
            f"Their metrics: {', '.join(names) or 'none (no run finished)'}"
        )
    modes = {run.optimized_mode for run in runs if run.optimized_metric == metric}
    if len(modes) != 1:
        modes = {"min" if any(word in metric for word in LOWER_IS_BETTER) else "max"}
    sign = -1.0 if modes.pop() == "max" else 1.0
    ranked = [r for r in runs if math.isfinite(r.metrics.get(metric, math.nan))]
    ranked.sort(key=lambda run: sign * run.metrics[metric])
    return ranked + [run for run in runs if run not in ranked]


def write_csv(runs: Sequence[Run], sort: str | None) -> None:
    """Every column, in full (the table shows the same values, shortened)."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(CSV_COLUMNS + ([sort] if sort else []))
    for run in runs:
        optimized, test = run.optimized_metric or "", run.test_metric or ""
        row = [run.experiment, run.started.isoformat(timespec="seconds"), run.status,
               " ".join(run.used_overrides()), " ".join(run.origin.values()), optimized,
               run.metrics.get(optimized, ""), test, run.metrics.get(test, ""), run.error or "",
               run.folder]  # fmt: skip
        writer.writerow([*row, run.metrics.get(sort, "")] if sort else row)


def shared_overrides(runs: Sequence[Run]) -> list[str]:
    """The overrides every run has (shown once, under the table), when there are several."""
    if len(runs) < 2:
        return []
    used = [run.used_overrides() for run in runs]
    common = set(runs[0].used_overrides("experiment")).intersection(*used)
    return [o for o in used[0] if o in common]


def caption(runs: Sequence[Run]) -> str:
    """Which metric the optimized and test columns hold, per experiment; the shared overrides."""
    parts = []
    for experiment in dict.fromkeys(run.experiment for run in runs):
        of = [run for run in runs if run.experiment == experiment]
        optimized = next((r.optimized_metric for r in of if r.optimized_metric), "–")
        test = next((r.test_metric for r in of if r.test_metric), "–")
        better = "higher" if of[0].optimized_mode == "max" else "lower"
        parts.append(f"{experiment}: optimized = {optimized} ({better} is better), test = {test}")
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
    text = " ".join(o for o in run.used_overrides(*hidden) if o not in shared)
    if run.origin:  # e.g. "resume of 2026-11-29/10-41-07-512345:"
        source = "/".join(Path(str(run.origin.get("run"))).parts[-2:])
        text = f"{run.origin.get('command')} of {source}: {text}"
    return text or "–"


def table(runs: Sequence[Run], sort: str | None) -> Table:
    """The runs, one row each; only the overrides wrap (a folder is never broken)."""
    shared = shared_overrides(runs)
    columns = {
        "experiment": [run.experiment for run in runs],
        "started": [f"{run.started:%Y-%m-%d %H:%M}" for run in runs],
        "status": [styled_status(run.status) for run in runs],
        "overrides": [what(run, shared) for run in runs],
        "optimized": [format_value(run.metrics.get(run.optimized_metric or "")) for run in runs],
        "test": [format_value(run.metrics.get(run.test_metric or "")) for run in runs],
    }
    if sort and any(sort not in (run.optimized_metric, run.test_metric) for run in runs):
        columns[sort] = [format_value(run.metrics.get(sort)) for run in runs]
    columns["folder"] = [str(run.folder) for run in runs]
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in columns:
        right = name not in ("experiment", "started", "status", "overrides", "folder")
        t.add_column(name, no_wrap=name != "overrides", overflow="fold",
                     justify="right" if right else "left")  # fmt: skip
    for cells in zip(*columns.values(), strict=True):
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
    runs_table = table(runs, args.sort)
    overrides = runs_table.columns[3]
    overrides.max_width = MIN_OVERRIDES  # rich then measures the narrowest the table may get
    narrowest = Measurement.get(out, out.options.update_width(UNLIMITED), runs_table).maximum
    overrides.max_width = None
    out.width = max(out.width, narrowest)  # wider than the terminal rather than a broken path
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
