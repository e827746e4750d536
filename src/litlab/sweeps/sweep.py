"""A sweep, as its job folders hold it: jobs grouped by setting (the seeds of one setting are
one group), ranked by the sweep's optimized metric; read by the summary and its figure."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from litlab.run_folder.folder import Run
from litlab.run_folder.status import COMPLETED

Job = Run  # a job of a sweep is a run folder like any other
GROUP_IGNORES = ("seed",)  # jobs that differ only in these are repeats of one setting


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
    keys = [k for k in dict.fromkeys(k for job in jobs for k in job.settings)
            if k not in GROUP_IGNORES]  # fmt: skip
    first = jobs[0].settings if jobs else {}
    common = {key: first[key] for key in keys
              if all(job.settings.get(key) == first.get(key) for job in jobs)}  # fmt: skip
    varying = [key for key in keys if key not in common]
    groups: dict[tuple[str, ...], Group] = {}
    for job in jobs:
        setting = {key: job.settings.get(key, "") for key in varying}
        groups.setdefault(tuple(setting.values()), Group(setting, [])).jobs.append(job)
    return list(groups.values()), common


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def stats_text(values: Sequence[float]) -> str:
    """``0.8123 ± 0.01 (n=3)``; a dash without values."""
    if not values:
        return "–"
    mean, std = mean_std(values)
    return f"{mean:.4g} ± {std:.2g} (n={len(values)})"


def objective(jobs: Sequence[Job]) -> tuple[str | None, str]:
    """The sweep's ``optimized_metric`` and ``optimized_metric_mode`` (from the job configs)."""
    job = next((job for job in jobs if job.config), None)
    return (job.optimized_metric, job.optimized_mode) if job else (None, "max")


def why_no_history(jobs: Sequence[Job], metric: str) -> str:
    """Why these jobs have no curve of ``metric``: ``"job 1, 3 ran with logger=none; ..."``."""
    reasons: dict[str, list[str]] = {}
    for job in jobs:
        if job.status != COMPLETED:
            why = f"{job.status} before logging it"
        elif job.config.get("logger") in (None, {}):
            why = "ran with logger=none"
        else:
            why = f"logged no {metric}"
        reasons.setdefault(why, []).append(job.name)
    return "; ".join(f"job {', '.join(names)} {why}" for why, names in reasons.items())
