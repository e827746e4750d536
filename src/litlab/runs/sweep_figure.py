"""summary.png of a sweep: the optimized metric against each swept value (mean ± std over the
seeds), and the metric's logged history for every job on one plot.

Drawn on a plain matplotlib ``Figure`` (no pyplot, so no display is needed). Swept values that
all read as numbers go on a numeric axis, logarithmic when they span two decades or more; others
(optimizer names, lists) are categories. A sweep of one value or one job gets a panel of its
jobs' values instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib import rcParams
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from litlab.runs.history import Points, read_history
from litlab.runs.sweep import Group, Job, mean_std, why_no_history

FIGURE_FILE = "summary.png"
MAX_SERIES = 6  # more combinations of the other swept keys: one series, no legend
MAX_LEGEND = 10
DECADES_FOR_LOG = 2.0


@dataclass
class SweepFigure:
    figure: Figure | None
    notes: list[str] = field(default_factory=list)  # what the figure leaves out, and why


def numbers(values: Sequence[str]) -> list[float] | None:
    """The values as floats, or None if any of them is not a number."""
    try:
        parsed = [float(value) for value in values]
    except ValueError:
        return None
    return parsed if all(math.isfinite(v) for v in parsed) else None


def spans_decades(values: Sequence[float]) -> bool:
    positive = [v for v in values if v > 0]
    if not positive or len(positive) < len(values):
        return False
    return math.log10(max(positive) / min(positive)) >= DECADES_FOR_LOG


def short(key: str) -> str:
    """``model.optimizer.lr`` -> ``lr``; ``model.optimizer._target_`` -> ``optimizer._target_``
    (matplotlib hides legend labels that start with '_')."""
    parts = key.split(".")
    return ".".join(parts[-2:]) if parts[-1].startswith("_") else parts[-1]


def label(setting: dict[str, str]) -> str:
    return " ".join(f"{short(key)}={value}" for key, value in setting.items())


def plot_by_value(ax: Axes, key: str, groups: Sequence[Group], metric: str) -> list[str]:
    """``metric`` (mean ± std over seeds) against the values of ``key``: one series per
    combination of the other swept keys. Returns the settings left out (no completed job)."""
    shown = [group for group in groups if group.values(metric)]
    left_out = [label(group.setting) for group in groups if not group.values(metric)]
    raw = list(dict.fromkeys(group.setting[key] for group in shown))
    parsed = numbers(raw)
    # where each value sits on the x axis: itself, or its place among the categories
    position = dict(zip(raw, parsed or range(len(raw)), strict=True))
    series: dict[str, list[Group]] = {}
    for group in shown:
        others = {k: v for k, v in group.setting.items() if k != key}
        series.setdefault(label(others), []).append(group)
    if len(series) > MAX_SERIES:
        series = {"": shown}
    all_values = []
    for name, members in series.items():
        members = sorted(members, key=lambda group: position[group.setting[key]])
        xs = [position[group.setting[key]] for group in members]
        stats = [mean_std(group.values(metric)) for group in members]
        line = ax.errorbar(
            xs,
            [mean for mean, _ in stats],
            yerr=[std for _, std in stats],
            marker="o",
            capsize=3,
            label=name or None,
            linestyle="-" if parsed else "none",
        )
        for x, group in zip(xs, members, strict=True):  # every job's own value, faintly
            values = group.values(metric)
            all_values += values
            ax.plot([x] * len(values), values, ".", color=line[0].get_color(), alpha=0.35)
    ax.set_xlabel(key)
    ax.set_ylabel(f"{metric} (mean ± std over seeds)")
    ax.set_title(f"{metric} by {key}")
    if parsed and spans_decades(parsed):
        ax.set_xscale("log")
    if not parsed:
        ax.set_xticks(range(len(raw)), raw, rotation=20 if max(map(len, raw)) > 8 else 0)
    if spans_decades(all_values):
        ax.set_yscale("log")
    if len(series) > 1:
        ax.legend(fontsize="small")
    return left_out


def plot_jobs(ax: Axes, jobs: Sequence[Job], metric: str) -> None:
    """No swept value besides the seed: each completed job's value, and their mean ± std."""
    done = [job for job in jobs if job.status == "completed" and metric in job.metrics]
    seeds = [job.settings.get("seed") for job in done]
    by_seed = len(set(seeds)) == len(done) and None not in seeds and len(done) > 1
    names = [f"seed={s}" for s in seeds] if by_seed else [f"job {job.name}" for job in done]
    values = [job.metrics[metric] for job in done]
    ax.plot(range(len(done)), values, "o")
    ax.set_xticks(range(len(done)), names)
    if values:
        mean, std = mean_std(values)
        ax.axhline(mean, color="grey", linewidth=1)
        if std:
            ax.axhspan(mean - std, mean + std, color="grey", alpha=0.15)
        ax.set_title(f"{metric}: {mean:.4g} ± {std:.2g} (n={len(values)})")
    ax.set_xlabel("seed" if by_seed else "job")
    ax.set_ylabel(metric)


def plot_curves(
    ax: Axes, histories: dict[str, Points], groups: Sequence[Group], metric: str
) -> None:
    """Every job's logged ``metric`` over the steps; one colour per setting (seeds share it),
    dashed for jobs that did not complete."""
    cycle = [style["color"] for style in rcParams["axes.prop_cycle"]]
    colour: dict[int, str] = {}  # id(group) -> colour
    for group in groups:
        for job in group.jobs:
            points = histories.get(job.name)
            if not points:
                continue
            first = id(group) not in colour
            colour.setdefault(id(group), cycle[len(colour) % len(cycle)])
            ax.plot(
                [step for step, _ in points],
                [value for _, value in points],
                color=colour[id(group)],
                linestyle="-" if job.status == "completed" else "--",
                marker="." if len(points) < 20 else None,
                label=(label(group.setting) or None) if first else None,
            )
    values = [value for points in histories.values() for _, value in points]
    if spans_decades(values):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} as logged, every job")
    if 1 < len(colour) <= MAX_LEGEND:
        ax.legend(fontsize="small")


def histories_of(jobs: Sequence[Job], metric: str) -> tuple[dict[str, Points], list[str]]:
    """The logged history of ``metric`` per job name, and why the others have none."""
    histories, without = {}, []
    for job in jobs:
        points = read_history(job.folder, metric)
        if points:
            histories[job.name] = points
        else:
            without.append(job)
    return histories, without


def build_figure(jobs: Sequence[Job], groups: Sequence[Group], metric: str | None) -> SweepFigure:
    """The figure for these jobs (``groups``: as ``litlab.runs.sweep.group_jobs`` makes
    them); no figure without jobs or without an optimized metric."""
    if not jobs or not metric:
        return SweepFigure(None, ["No figure: no jobs, or no optimized_metric to plot."])
    swept = list(groups[0].setting) if groups else []
    histories, without = histories_of(jobs, metric)
    panels = max(len(swept), 1) + (1 if histories else 0)
    columns = min(panels, 3)
    rows = math.ceil(panels / columns)
    figure = Figure(figsize=(5.2 * columns, 4.0 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).flatten()
    notes: list[str] = []
    for ax, key in zip(axes[: len(swept)], swept, strict=True):
        left_out = plot_by_value(ax, key, groups, metric)
        if left_out:
            notes.append(f"By {key}: no completed job for {', '.join(left_out)}.")
    if not swept:
        plot_jobs(axes[0], jobs, metric)
    if histories:
        plot_curves(axes[panels - 1], histories, groups, metric)
    for ax in axes[panels:]:
        ax.set_visible(False)
    if without:
        notes.append(f"Curves of {metric} not shown: {why_no_history(without, metric)}.")
    return SweepFigure(figure, notes)


def write_figure(
    path: Path, jobs: Sequence[Job], groups: Sequence[Group], metric: str | None
) -> SweepFigure:
    """Build the figure and save it at ``path`` (PNG); an old one is removed if none is built."""
    result = build_figure(jobs, groups, metric)
    if result.figure is not None:
        result.figure.savefig(path, dpi=100)
    else:
        path.unlink(missing_ok=True)
    return result
