"""summary.png of a sweep: the optimized metric against each swept value (mean ± std over the
seeds; numbers on a numeric axis, log from a decade on, others as categories; a sweep of no
value: each job's value), and every job's logged history over optimizer steps. Every panel says
whether lower or higher is better and marks the jobs that did not complete with a black ×.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import cycle

from matplotlib import rcParams
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from litlab.plotting import (
    cross_at_foot,
    cross_handle,
    cross_inside,
    declutter_ticks,
    line_styles,
    panels,
    set_title,
    show_y_range,
    spans_decades,
    values_axis,
)
from litlab.run_folder.history import Points, read_history
from litlab.sweeps.sweep import Group, Job, mean_std, stats_text, why_no_history

FIGURE_FILE = "summary.png"
MAX_SERIES = 6  # more combinations of the other swept keys: one series, no legend
MAX_LEGEND = 10
DECADES_FOR_LOG = 2.0  # metric means: a log axis from two decades on
CURVE_DECADES_FOR_LOG = 1.0  # logged curves (losses fall by decades): from one on
BETTER = {"min": "lower is better", "max": "higher is better"}
DID_NOT_COMPLETE = "did not complete"


@dataclass
class SweepFigure:
    figure: Figure | None
    notes: list[str] = field(default_factory=list)  # what the figure leaves out, and why


def short(key: str) -> str:
    """``model.optimizer.lr`` -> ``lr``; ``model.optimizer._target_`` -> ``optimizer._target_``
    (matplotlib hides legend labels that start with '_')."""
    parts = key.split(".")
    return ".".join(parts[-2:]) if parts[-1].startswith("_") else parts[-1]


def label(setting: dict[str, str]) -> str:
    return " ".join(f"{short(key)}={value}" for key, value in setting.items())


def plot_by_value(ax: Axes, key: str, groups: Sequence[Group], metric: str, mode: str) -> list[str]:
    """``metric`` (mean ± std over seeds) against the values of ``key``: one series per
    combination of the other swept keys; the jobs that did not complete marked at their value.
    Returns the settings left out of the series (no completed job)."""
    shown = [group for group in groups if group.values(metric)]
    left_out = [label(group.setting) for group in groups if not group.values(metric)]
    raw = list(dict.fromkeys(group.setting[key] for group in groups))
    position, numeric = values_axis(ax, key, raw)
    series: dict[str, list[Group]] = {}
    for group in shown:
        others = {k: v for k, v in group.setting.items() if k != key}
        series.setdefault(label(others), []).append(group)
    if len(series) > MAX_SERIES:
        series = {"": shown}
    for name, members in series.items():
        members = sorted(members, key=lambda group: position[group.setting[key]])
        xs = [position[group.setting[key]] for group in members]
        means, stds = zip(*(mean_std(group.values(metric)) for group in members), strict=True)
        line = ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=name or None,
                           linestyle="-" if numeric else "none")  # fmt: skip
        for x, group in zip(xs, members, strict=True):  # every job's own value, faintly
            values = group.values(metric)
            ax.plot([x] * len(values), values, ".", color=line[0].get_color(), alpha=0.35)
    failed: dict[float, int] = {}
    for group in groups:
        if len(group.completed) < len(group.jobs):
            x = position[group.setting[key]]
            failed[x] = failed.get(x, 0) + len(group.jobs) - len(group.completed)
    if failed:
        cross_at_foot(ax, list(failed), list(failed.values()))
    ax.set_ylabel(f"{metric} (mean ± std over seeds)")
    set_title(ax, f"{metric} by {short(key)}", BETTER.get(mode, ""))
    if spans_decades([value for group in shown for value in group.values(metric)], DECADES_FOR_LOG):
        ax.set_yscale("log")
    handles, _ = ax.get_legend_handles_labels()
    if len(series) > 1 or failed:
        handles += [cross_handle(DID_NOT_COMPLETE)] if failed else []
        ax.legend(handles=handles, fontsize="small", loc="best")
    return left_out


def plot_jobs(ax: Axes, jobs: Sequence[Job], metric: str, mode: str) -> None:
    """No swept value besides the seed: each job's value (× for a job that did not complete),
    and the completed jobs' mean ± std."""
    seeds = [job.settings.get("seed") for job in jobs]
    by_seed = len(set(seeds)) == len(jobs) and None not in seeds and len(jobs) > 1
    names = [str(s) for s in seeds] if by_seed else [job.name for job in jobs]
    done = [i for i, job in enumerate(jobs) if job.status == "completed" and metric in job.metrics]
    values = [jobs[i].metrics[metric] for i in done]
    ax.plot(done, values, "o")
    ax.set_xticks(range(len(jobs)), names)
    failed = [i for i in range(len(jobs)) if i not in done]
    if failed:
        cross_at_foot(ax, failed, [1] * len(failed))
        ax.legend(handles=[cross_handle(DID_NOT_COMPLETE)], fontsize="small", loc="best")
    if values:
        mean, std = mean_std(values)
        ax.axhline(mean, color="grey", linewidth=1)
        if std:
            ax.axhspan(mean - std, mean + std, color="grey", alpha=0.15)
    set_title(ax, f"{metric}: {stats_text(values)}" if values else metric, BETTER.get(mode, ""))
    ax.set_xlabel("seed" if by_seed else "job")
    ax.set_ylabel(metric)


def plot_curves(
    ax: Axes, histories: dict[str, Points], groups: Sequence[Group], metric: str, mode: str | None
) -> None:
    """Every job's logged ``metric`` over the optimizer steps: one colour per setting, one line
    style and marker per seed; a job that did not complete ends in a black ×."""
    jobs = [job for group in groups for job in group.jobs]
    styles, seed_handles = line_styles([job.settings.get("seed", "") for job in jobs], "seed")
    drawn = [group for group in groups if any(job.name in histories for job in group.jobs)]
    colours = cycle(style["color"] for style in rcParams["axes.prop_cycle"])
    setting_handles, ends = [], []
    for group, colour in zip(drawn, colours, strict=False):  # the colours cycle
        name = label(group.setting) or "every job"
        setting_handles.append(Line2D([], [], color=colour, label=name))
        for job in (job for job in group.jobs if job.name in histories):
            points = histories[job.name]
            linestyle, marker = styles[job.settings.get("seed", "")]
            ax.plot(*zip(*points, strict=True), color=colour, linestyle=linestyle,
                    marker=marker if len(points) < 20 else None, markersize=4)  # fmt: skip
            finite = [(step, value) for step, value in points if math.isfinite(value)]
            if job.status != "completed" and finite:
                ends.append(finite[-1])
    # the y range: what the completed jobs (all if none did) logged after their first point (when
    # they logged three or more), so that the first epoch and a diverged job run off it
    names = {job.name for job in jobs if job.status == "completed"} & set(histories) or histories
    later = [points[1:] if len(points) > 2 else points for points in map(histories.get, names)]  # type: ignore[arg-type,index]  # noqa: E501
    shown = [v for points in later for _, v in points if math.isfinite(v)]  # type: ignore[union-attr]
    logged = [v for points in histories.values() for _, v in points if math.isfinite(v)]
    if shown:
        show_y_range(ax, shown, log=spans_decades(logged, CURVE_DECADES_FOR_LOG))
    cross_inside(ax, ends)  # at the last value each logged
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(metric)
    set_title(ax, f"{metric} as logged", BETTER.get(mode, ""))  # type: ignore[arg-type]
    handles = setting_handles if 1 < len(setting_handles) <= MAX_LEGEND else []
    handles += seed_handles[:MAX_LEGEND]
    if ends:
        handles.append(cross_handle(DID_NOT_COMPLETE))
    if handles:  # beside the plot: the curves fill it
        ax.legend(handles=handles, fontsize="small", loc="upper left", bbox_to_anchor=(1, 1))


def build_figure(
    jobs: Sequence[Job], groups: Sequence[Group], metric: str | None, mode: str | None = None
) -> SweepFigure:
    """The figure for these jobs (``groups``: as ``litlab.sweeps.sweep.group_jobs`` makes
    them; ``mode``: min or max, else the jobs' ``optimized_metric_mode``); no figure without
    jobs or without an optimized metric."""
    if not jobs or not metric:
        return SweepFigure(None, ["No figure: no jobs, or no optimized_metric to plot."])
    mode = mode or jobs[0].optimized_mode
    swept = list(groups[0].setting) if groups else []
    logged = {job.name: read_history(job.folder, metric) for job in jobs}
    histories = {name: points for name, points in logged.items() if points}
    without = [job for job in jobs if job.name not in histories]
    figure, axes = panels(max(len(swept), 1) + (1 if histories else 0))
    notes: list[str] = []
    for ax, key in zip(axes[: len(swept)], swept, strict=True):
        left_out = plot_by_value(ax, key, groups, metric, mode)
        if left_out:
            notes.append(f"By {key}: no completed job for {', '.join(left_out)}.")
    if not swept:
        plot_jobs(axes[0], jobs, metric, mode)
    if histories:
        plot_curves(axes[-1], histories, groups, metric, mode)
    declutter_ticks(figure)
    if without:
        notes.append(f"Curves of {metric} not shown: {why_no_history(without, metric)}.")
    return SweepFigure(figure, notes)
