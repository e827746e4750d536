"""summary.csv, summary.md and summary.png of a multirun, built from its job folders alone.

Written at the end of every multirun by ``SweepSummary`` (a Hydra callback, see
conf/hydra/default.yaml) and rebuilt at any time, also for an interrupted sweep, by
``litlab summary <sweep folder>`` (or its older name, ``litlab-summary``).
"""

from __future__ import annotations

import argparse
import csv
import logging
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from litlab.errors import UserError
from litlab.runs.folder import HYDRA_DIR, read_json, read_yaml
from litlab.runs.status import COMPLETED, FAILED, STATUSES, read_status

GROUP_IGNORES = ("seed",)
log = logging.getLogger(__name__)  # jobs that differ only in these are repeats of one setting


@dataclass
class Job:
    name: str  # the job folder's name: Hydra's job number
    folder: Path
    overrides: dict[str, str]
    status: str
    error: str | None
    metrics: dict[str, float]
    config: dict[str, Any] = field(repr=False)


def parse_overrides(lines: Sequence[str]) -> dict[str, str]:
    """``["+trainer.max_epochs=2", "seed=1"]`` -> ``{"trainer.max_epochs": "2", "seed": "1"}``."""
    pairs = (line.split("=", 1) for line in lines if "=" in line)
    return {key.lstrip("+~"): value for key, value in pairs}


def read_job(folder: Path) -> Job:
    hydra_dir = folder / HYDRA_DIR
    overrides = parse_overrides(read_yaml(hydra_dir / "overrides.yaml") or [])
    config = read_yaml(hydra_dir / "config.yaml") or {}
    status = read_status(folder)  # a job killed hard, or from an older sweep: incomplete
    metrics = read_json(folder / "metrics.json") or {}
    return Job(folder.name, folder, overrides, status.status, status.error, metrics, config)


def job_sort_key(folder: Path) -> tuple[int, str]:
    return (int(folder.name), "") if folder.name.isdigit() else (sys.maxsize, folder.name)


def read_jobs(sweep_dir: Path) -> list[Job]:
    """Every job folder (one holding .hydra/overrides.yaml) directly in the sweep folder."""
    folders = [p.parent.parent for p in sweep_dir.glob("*/.hydra/overrides.yaml")]
    return [read_job(folder) for folder in sorted(folders, key=job_sort_key)]


def metric_names(jobs: Sequence[Job], first: str | None) -> list[str]:
    names = sorted({name for job in jobs for name in job.metrics})
    return sorted(names, key=lambda name: name != first)  # the optimized metric leads


def write_csv(path: Path, jobs: Sequence[Job], metrics: Sequence[str]) -> None:
    keys = list(dict.fromkeys(key for job in jobs for key in job.overrides))
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["job", "status", *keys, *metrics, "error", "run_dir"])
        for job in jobs:
            writer.writerow(
                [job.name, job.status]
                + [job.overrides.get(key, "") for key in keys]
                + [job.metrics.get(name, "") for name in metrics]
                + [job.error or "", str(job.folder.resolve())]
            )


@dataclass
class Group:
    setting: dict[str, str]  # the overrides that vary between groups
    jobs: list[Job]

    @property
    def completed(self) -> list[Job]:
        return [job for job in self.jobs if job.status == COMPLETED]

    def values(self, metric: str) -> list[float]:
        return [job.metrics[metric] for job in self.completed if metric in job.metrics]

    def mean(self, metric: str | None) -> float | None:
        values = self.values(metric) if metric else []
        return statistics.fmean(values) if values else None


def group_jobs(jobs: Sequence[Job]) -> tuple[list[Group], dict[str, str]]:
    """Groups of jobs that differ only in the seed, and the overrides all jobs share."""
    keys = list(dict.fromkeys(k for job in jobs for k in job.overrides if k not in GROUP_IGNORES))
    common = {
        key: jobs[0].overrides[key]
        for key in keys
        if all(job.overrides.get(key) == jobs[0].overrides.get(key) for job in jobs)
    }
    varying = [key for key in keys if key not in common]
    groups: dict[tuple[str, ...], Group] = {}
    for job in jobs:
        setting = {key: job.overrides.get(key, "") for key in varying}
        groups.setdefault(tuple(setting.values()), Group(setting, [])).jobs.append(job)
    return list(groups.values()), common


def rank_groups(groups: list[Group], metric: str | None, mode: str) -> list[Group]:
    """Best group first; groups without a finished value of the metric last."""
    sign = -1.0 if mode == "max" else 1.0

    def key(group: Group) -> tuple[bool, float]:
        mean = group.mean(metric)
        return (mean is None, sign * mean if mean is not None else 0.0)

    return sorted(groups, key=key)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def format_stats(values: Sequence[float]) -> str:
    if not values:
        return "–"
    mean, std = mean_std(values)
    return f"{mean:.4g} ± {std:.2g} (n={len(values)})"


def markdown(
    jobs: Sequence[Job],
    metrics: Sequence[str],
    metric: str | None,
    mode: str,
    figure: str | None = None,
    notes: Sequence[str] = (),
) -> str:
    """The summary; ``figure``: the file name of the sweep figure to link, ``notes``: what it
    leaves out."""
    groups, common = group_jobs(jobs)
    groups = rank_groups(groups, metric, mode)
    varying = list(groups[0].setting) if groups else []
    counts = {s: sum(job.status == s for job in jobs) for s in STATUSES}
    lines = [
        "# Sweep summary",
        "",
        f"{len(jobs)} jobs: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n) + ".",
        f"Groups: jobs with the same overrides except {', '.join(GROUP_IGNORES)}; "
        f"best first by `{metric}` ({mode}). Each cell: mean ± std (n completed jobs).",
    ]
    if common:
        lines += ["", "Shared by all jobs: " + " ".join(f"`{k}={v}`" for k, v in common.items())]
    header = [*varying, "jobs", "completed", *metrics]
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for group in groups:
        cells = [group.setting[key] for key in varying]
        cells += [str(len(group.jobs)), str(len(group.completed))]
        cells += [format_stats(group.values(name)) for name in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    if figure:
        lines += ["", f"![{metric} by swept value, and as logged during training]({figure})"]
    if notes:
        lines += [""] + [f"- {note}" for note in notes]
    unfinished = [job for job in jobs if job.status != COMPLETED]
    if unfinished:
        lines += ["", "## Jobs that did not complete", "", "| job | status | overrides | error |"]
        lines.append("|---|---|---|---|")
        for job in unfinished:
            overrides = " ".join(f"{k}={v}" for k, v in job.overrides.items() if k not in common)
            error = (job.error or "").replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {job.name} | {job.status} | {overrides} | {error} |")
    return "\n".join(lines) + "\n"


def objective(jobs: Sequence[Job]) -> tuple[str | None, str]:
    """The sweep's ``optimized_metric`` and its ``optimized_metric_mode`` (from the job configs)."""
    config = next((job.config for job in jobs if job.config), {})
    mode = config.get("optimized_metric_mode") or "max"
    if mode not in ("min", "max"):
        raise ValueError(f"optimized_metric_mode={mode!r} is invalid: use min or max")
    return config.get("optimized_metric"), mode


def figure(sweep_dir: Path, jobs: Sequence[Job], metric: str | None) -> tuple[str | None, list]:
    """Write summary.png: (its file name, or None without a figure; notes on what it leaves
    out). A figure that cannot be drawn costs the figure, never the summary."""
    from litlab.runs.sweep_figure import FIGURE_FILE, write_figure  # matplotlib: only here

    try:
        drawn = write_figure(sweep_dir / FIGURE_FILE, jobs, group_jobs(jobs)[0], metric)
    except Exception as error:  # e.g. unreadable event files: the tables still matter
        log.warning("sweep figure not written: %s", error, exc_info=True)
        return None, [f"No figure: {type(error).__name__}: {error}"]
    return (FIGURE_FILE if drawn.figure is not None else None), drawn.notes


def write_summary(sweep_dir: str | Path) -> list[Job]:
    """Write summary.csv, summary.md and summary.png into the sweep folder; return the jobs
    found. Without jobs, write nothing."""
    sweep_dir = Path(sweep_dir)
    jobs = read_jobs(sweep_dir)
    if not jobs:
        return jobs
    metric, mode = objective(jobs)
    metrics = metric_names(jobs, metric)
    write_csv(sweep_dir / "summary.csv", jobs, metrics)
    figure_file, notes = figure(sweep_dir, jobs, metric)
    (sweep_dir / "summary.md").write_text(markdown(jobs, metrics, metric, mode, figure_file, notes))
    return jobs


def report(sweep_dir: Path, jobs: Sequence[Job]) -> int:
    """Print where the summary is and return the exit code: 1 if any job failed."""
    failed = [job for job in jobs if job.status == FAILED]
    print(f"Sweep summary: {sweep_dir.resolve() / 'summary.md'} ({len(jobs)} jobs)")
    if failed:
        print(f"{len(failed)} of {len(jobs)} jobs failed: " + ", ".join(j.name for j in failed))
    return 1 if failed else 0


class SweepSummary(Callback):
    """Writes the summary when a multirun ends, and exits 1 if any of its jobs failed."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        code = report(sweep_dir, write_summary(sweep_dir))
        if code:
            sys.exit(code)  # SystemExit passes Hydra's callback guard; Hydra itself exits 0


def summarize(sweep_dir: Path) -> int:
    """Rebuild the summary of ``sweep_dir``; the exit code: 1 if any job failed."""
    if not sweep_dir.is_dir():
        raise UserError(f"sweep folder {sweep_dir} does not exist")
    jobs = write_summary(sweep_dir)
    if not jobs:
        raise UserError(f"no job folders (*/.hydra/overrides.yaml) in {sweep_dir}")
    return report(sweep_dir, jobs)


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """``litlab summary SWEEP_DIR``."""
    parser = subparsers.add_parser(
        "summary",
        help="rebuild a sweep's summary",
        description="Rebuild summary.csv, summary.md and summary.png of a sweep folder.",
    )
    parser.add_argument("sweep_dir", type=Path, metavar="SWEEP_DIR",
                        help="outputs/multirun/<name>/<date>/<time>")  # fmt: skip
    parser.set_defaults(func=lambda args: summarize(args.sweep_dir))


def main(argv: Sequence[str] | None = None) -> int:
    """``litlab-summary SWEEP_DIR``: the older name of ``litlab summary``, kept as an alias."""
    from litlab.cli import main as litlab

    return litlab(["summary", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
