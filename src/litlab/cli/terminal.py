"""Rich output that fits the terminal: its width on a terminal; when piped, 100 columns or
(``piped_width=None``) as wide as the lines are."""

from __future__ import annotations

import os
import sys

from rich.console import Console

PIPED_WIDTH, UNLIMITED = 100, 100_000
STATUS_STYLES = {"completed": "green", "pruned": "blue", "failed": "red", "interrupted": "yellow",
                 "running": "cyan", "incomplete": "magenta", "unreadable": "red"}  # fmt: skip


def console(piped_width: int | None = PIPED_WIDTH) -> Console:
    """Rich's console on stdout; piped (no terminal, no COLUMNS): ``piped_width`` wide."""
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    width = (piped_width or UNLIMITED) if piped else None
    return Console(width=width, highlight=False, soft_wrap=False)


def styled_status(status: str) -> str:
    style = STATUS_STYLES.get(status)
    return f"[{style}]{status}[/{style}]" if style else status


def format_value(value: object) -> str:
    """Numbers to 4 significant digits, missing values as a dash."""
    if value is None or value == "":
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
