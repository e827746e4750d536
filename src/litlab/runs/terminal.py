"""Rich output that fits the terminal: its width on a terminal, 100 columns when piped."""

from __future__ import annotations

import os
import sys

from rich.console import Console

PIPED_WIDTH = 100
STATUS_STYLES = {
    "completed": "green",
    "failed": "red",
    "interrupted": "yellow",
    "running": "cyan",
    "incomplete": "magenta",
}


def console() -> Console:
    """Rich's console on stdout; piped output (no terminal, no COLUMNS) is 100 columns wide."""
    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(width=PIPED_WIDTH if piped else None, highlight=False, soft_wrap=False)


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


def wrap_path(path: str, width: int) -> str:
    """Break a path before a '/' so that each line fits ``width`` (one long name may not)."""
    lines = [""]
    for i, part in enumerate(path.split("/")):
        piece = part if i == 0 else "/" + part
        if lines[-1] and len(lines[-1]) + len(piece) > width:
            lines.append(piece)
        else:
            lines[-1] += piece
    return "\n".join(lines)


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"
