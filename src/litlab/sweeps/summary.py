"""summary.csv, summary.md and summary.png of a multirun, from its job folders alone: written
when a multirun ends (``SweepSummary``, a Hydra callback) and by ``litlab summary <sweep folder>``
(also of an interrupted sweep). An unreadable job folder is listed as such, with the reason."""

from __future__ import annotations

import argparse
import csv
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from litlab.errors import UserError
from litlab.run_folder.folder import counted, find_jobs
from litlab.run_folder.status import COMPLETED, FAILED, UNREADABLE
from litlab.sweeps.sweep import GROUP_IGNORES, Job, group_jobs, objective, stats_text

log = logging.getLogger(__name__)


def write_csv(path: Path, jobs: Sequence[Job], metrics: Sequence[str]) -> None:
    keys = list(dict.fromkeys(key for job in jobs for key in job.settings))
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["job", "status", *keys, *metrics, "error", "run_dir"])
        for job in jobs:
            writer.writerow(
                [job.name, job.status]
                + [job.settings.get(key, "") for key in keys]
                + [job.metrics.get(name, "") for name in metrics]
                + [job.error or "", str(job.folder.resolve())]
            )


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(cells) + " |" for cells in (header, *rows)]
    return [lines[0], "|" + "---|" * len(header), *lines[1:]]


def markdown(
    jobs: Sequence[Job],
    metrics: Sequence[str],
    metric: str | None,
    mode: str,
    figure: str | None = None,
    notes: Sequence[str] = (),
) -> str:
    """``figure``: the file name of the sweep figure to link, ``notes``: what it leaves out."""
    readable = [job for job in jobs if job.status != UNREADABLE]
    groups, common = group_jobs(readable)
    sign = -1.0 if mode == "max" else 1.0  # best first; groups without a finished value last
    groups.sort(key=lambda group: (group.mean(metric) is None, sign * (group.mean(metric) or 0)))
    varying = list(groups[0].setting) if groups else []
    lines = [
        "# Sweep summary",
        "",
        counted(jobs, "job") + ".",
        f"Groups: jobs with the same overrides except {', '.join(GROUP_IGNORES)}; "
        f"best first by `{metric}` ({mode}). Each cell: mean ± std (n completed jobs).",
    ]
    if common:
        lines += ["", "Shared by all jobs: " + " ".join(f"`{k}={v}`" for k, v in common.items())]
    rows = [[*(group.setting[key] for key in varying), str(len(group.jobs)),
             str(len(group.completed)), *(stats_text(group.values(n)) for n in metrics)]
            for group in groups]  # fmt: skip
    lines += ["", *md_table([*varying, "jobs", "completed", *metrics], rows)]
    if figure:
        lines += ["", f"![{metric} by swept value, and as logged during training]({figure})"]
    if notes:
        lines += [""] + [f"- {note}" for note in notes]
    unfinished = [job for job in jobs if job.status != COMPLETED]
    if unfinished:
        rows = [[job.name, job.status,
                 " ".join(f"{k}={v}" for k, v in job.settings.items() if k not in common),
                 (job.error or "").replace("|", "\\|").replace("\n", " ")]
                for job in unfinished]  # fmt: skip
        lines += ["", "## Jobs that did not complete", ""]
        lines += md_table(["job", "status", "overrides", "error"], rows)
    return "\n".join(lines) + "\n"


def figure(sweep_dir: Path, jobs: Sequence[Job], metric: str | None) -> tuple[str | None, list]:
    """Write summary.png: its file name (None without a figure), and what it leaves out. A
    figure that cannot be drawn costs the figure, never the summary."""
    from litlab.sweeps.figure import FIGURE_FILE, build_figure  # matplotlib: only here

    path = sweep_dir / FIGURE_FILE
    path.unlink(missing_ok=True)  # an old one, if none is drawn now
    try:
        readable = [job for job in jobs if job.status != UNREADABLE]
        drawn = build_figure(readable, group_jobs(readable)[0], metric)
        if drawn.figure is not None:
            drawn.figure.savefig(path, dpi=100)
    except Exception as error:  # e.g. unreadable event files: the tables still matter
        log.warning("sweep figure not written: %s", error, exc_info=True)
        return None, [f"No figure: {type(error).__name__}: {error}"]
    return (FIGURE_FILE if drawn.figure is not None else None), drawn.notes


def summarize(sweep_dir: Path) -> int:
    """Write summary.csv, .md and .png from the job folders and say where; the exit code: 1 if
    any job failed (a pruned trial did not fail: the search stopped it)."""
    if not sweep_dir.is_dir():
        raise UserError(f"sweep folder {sweep_dir} does not exist")
    jobs = find_jobs(sweep_dir)
    if not jobs:
        raise UserError(f"no job folders (*/.hydra) in {sweep_dir}")
    metric, mode = objective(jobs)
    names = sorted({name for job in jobs for name in job.metrics})
    metrics = sorted(names, key=lambda name: name != metric)  # the optimized metric leads
    write_csv(sweep_dir / "summary.csv", jobs, metrics)
    figure_file, notes = figure(sweep_dir, jobs, metric)
    (sweep_dir / "summary.md").write_text(markdown(jobs, metrics, metric, mode, figure_file, notes))
    failed = [job for job in jobs if job.status in (FAILED, UNREADABLE)]
    print(f"Sweep summary: {sweep_dir.resolve() / 'summary.md'} ({counted(jobs, 'job')})")
    for job in failed:
        print(f"job {job.name} {job.status}: {job.error} ({job.folder})")
    return 1 if failed else 0


class SweepSummary(Callback):
    """Writes the summary when a multirun ends, and exits 1 if any of its jobs failed."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if find_jobs(sweep_dir) and summarize(sweep_dir):  # no jobs: nothing to summarize
            sys.exit(1)  # SystemExit passes Hydra's callback guard; Hydra itself exits 0


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "summary",
        help="rebuild a sweep's summary",
        description="Rebuild summary.csv, summary.md and summary.png of a sweep folder.",
    )
    parser.add_argument("sweep_dir", type=Path, metavar="SWEEP_DIR",
                        help="outputs/multirun/<name>/<date>/<time>")  # fmt: skip
    parser.set_defaults(func=lambda args: summarize(args.sweep_dir))
