"""Axis helpers for litlab's figures: tick labels that never collide, log axes labelled with
plain numbers, a y range that shows chosen values, titles that fit, and one mark for what did
not complete. (Plain matplotlib: no pyplot, so no display is needed.)"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter, NullFormatter, NullLocator

PLAIN = FuncFormatter(lambda value, _: f"{value:g}")  # 20, 300 rather than 2×10¹, 3×10²
TITLE_CHARS = 44  # a longer title runs past the edge of a 5-inch panel
CROSS: dict[str, Any] = dict(
    marker="x", color="black", markersize=9, markeredgewidth=2, linestyle="none"
)
FOOT = 0.04  # where crosses sit without a value: this far up the axis
LINE_STYLES, MARKERS = ["-", "--", ":", "-."], ["o", "s", "^", "D", "v", "P"]
VALUE_DECADES_FOR_LOG = 1.0  # values on the x axis (learning rates): a log axis from one on


def panels(count: int) -> tuple[Figure, list[Axes]]:
    """A figure of ``count`` panels, at most three a row (the spare places hidden)."""
    columns = min(count, 3)
    rows = math.ceil(count / columns)
    figure = Figure(figsize=(5.2 * columns, 4.0 * rows), layout="constrained")
    axes = list(figure.subplots(rows, columns, squeeze=False).flatten())
    for ax in axes[count:]:
        ax.set_visible(False)
    return figure, axes[:count]


def values_axis(ax: Axes, name: str, values: Sequence[str]) -> tuple[dict[str, float], bool]:
    """``values`` on the x axis, ticks at them and nowhere else: numbers on a numeric axis (log
    from a decade on), anything else as categories named without their shared dotted prefix.
    Returns where each value sits, and whether they are numbers."""
    try:
        numbers = [float(value) for value in values]
    except ValueError:
        numbers = []
    numeric = bool(numbers) and all(math.isfinite(v) for v in numbers)
    prefix = "" if numeric else shared_prefix(values)
    ax.set_xlabel(f"{name} = {prefix}<name>" if prefix else name)
    if numeric and spans_decades(numbers, VALUE_DECADES_FOR_LOG):
        ax.set_xscale("log")
    ticks = [f"{v:g}" for v in numbers] if numeric else [v.removeprefix(prefix) for v in values]
    positions = numbers if numeric else list(range(len(values)))
    ax.set_xticks(positions, ticks)
    ax.xaxis.set_minor_locator(NullLocator())  # no minor labels to collide
    return dict(zip(values, positions, strict=True)), numeric


def spans_decades(values: Sequence[float], decades: float) -> bool:
    positive = [v for v in values if v > 0]
    if not positive or len(positive) < len(values):
        return False
    return math.log10(max(positive) / min(positive)) >= decades


def set_title(ax: Axes, title: str, remark: str) -> None:
    """``title (remark)``; the remark on a line of its own when both would not fit."""
    if not remark:
        ax.set_title(title)
    elif len(title) + len(remark) + 3 > TITLE_CHARS:
        ax.set_title(f"{title}\n({remark})")
    else:
        ax.set_title(f"{title} ({remark})")


def shared_prefix(names: Sequence[str]) -> str:
    """The dotted prefix all the names share (``torch.optim.``), to leave off their ticks."""
    prefix: list[str] = []
    for segments in zip(*(name.split(".")[:-1] for name in names), strict=False):
        if len(names) < 2 or len(set(segments)) > 1:
            break
        prefix.append(segments[0])
    return ".".join(prefix) + "." if prefix else ""


def cross_at_foot(ax: Axes, positions: Sequence[float], counts: Sequence[int]) -> None:
    """A black × at the foot of the axis at each x position, with its count when above 1."""
    foot = ax.get_xaxis_transform()  # x in data, y in axes coordinates
    ax.plot(positions, [FOOT] * len(positions), transform=foot, clip_on=False, **CROSS)
    for x, count in zip(positions, counts, strict=True):
        if count > 1:
            ax.annotate(f"{count}", (x, FOOT), xycoords=foot, xytext=(6, 3),
                        textcoords="offset points", fontsize="small")  # fmt: skip


def cross_inside(ax: Axes, points: Sequence[tuple[float, float]]) -> None:
    """A black × at each point, kept inside the y range where it runs off it."""
    if points:
        low, high = ax.get_ylim()
        ys = [min(max(y, low), high) for _, y in points]
        ax.plot([x for x, _ in points], ys, clip_on=False, zorder=3, **CROSS)


def line_styles(values: Sequence[str], name: str) -> tuple[dict[str, tuple[str, str]], list]:
    """A (line style, marker) for each distinct value, and their legend entries ``name=value``
    (none for a single value)."""
    styles = {v: (LINE_STYLES[i % len(LINE_STYLES)], MARKERS[i % len(MARKERS)])
              for i, v in enumerate(dict.fromkeys(values))}  # fmt: skip
    handles = [Line2D([], [], color="grey", linestyle=style, marker=marker, label=f"{name}={v}")  # type: ignore[arg-type]
               for v, (style, marker) in styles.items()]  # fmt: skip
    return styles, handles if len(styles) > 1 else []


def cross_handle(text: str) -> Line2D:
    """The legend entry of the black ×."""
    return Line2D([], [], **CROSS, label=text)


def minor_labels(decades: float) -> FuncFormatter | NullFormatter:
    """Labels between the powers of ten of a log axis: all of them over less than a decade,
    2 and 5 times them over less than two, none over more (they would collide)."""
    if decades >= 2:
        return NullFormatter()
    shown = range(1, 10) if decades < 1 else (2, 5)

    def text(value: float, _: int) -> str:
        mantissa = round(value / 10 ** math.floor(math.log10(value) + 1e-9))
        return f"{value:g}" if mantissa in shown else ""

    return FuncFormatter(text)


def show_y_range(ax: Axes, values: Sequence[float], log: bool) -> None:
    """A y range just around ``values`` (what else is drawn may run off it), on a log axis
    labelled with plain numbers when ``log`` (and the values are positive)."""
    low, high = min(values), max(values)
    if log and low > 0:
        ax.set_yscale("log")
        decades = max(math.log10(high / low), 0.1)
        pad = 10 ** (0.05 * decades)
        ax.set_ylim(low / pad, high * pad)
        ax.yaxis.set_major_formatter(PLAIN)
        ax.yaxis.set_minor_formatter(minor_labels(decades))
    else:
        pad = 0.05 * (high - low) or 0.05 * abs(high) or 0.05
        ax.set_ylim(low - pad, high + pad)


def overlapping(labels: Sequence[Text]) -> bool:
    boxes = [text.get_window_extent() for text in labels if text.get_visible() and text.get_text()]
    boxes.sort(key=lambda box: box.x0)
    return any(a.x1 > b.x0 for a, b in pairwise(boxes))


def declutter_ticks(figure: Figure) -> None:
    """X tick labels that collide are slanted, then upright; if they still collide, only every
    k-th is shown."""
    figure.draw_without_rendering()
    for ax in figure.axes:
        for angle, align, mode in ((30, "right", "anchor"), (90, "center", "default")):
            if not ax.get_visible() or not overlapping(ax.get_xticklabels()):
                break
            for text in ax.get_xticklabels():
                text.set(rotation=angle, horizontalalignment=align, rotation_mode=mode)
            figure.draw_without_rendering()
        labels = ax.get_xticklabels()
        step = 1
        while overlapping([t for i, t in enumerate(labels) if i % step == 0]):
            step += 1
        for i, text in enumerate(labels):
            text.set_visible(i % step == 0)
