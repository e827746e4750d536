"""What a run leaves in its folder for people and tools: metrics.json, written whole or not
at all."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.json"


def write_json(path: Path, data: Any) -> Path:
    """Replace ``path`` at once: a reader (or a kill) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(partial, path)
    return path


def to_floats(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Tensors and numbers as floats (a tensor's ``item``), by name."""
    return {
        name: float(value.item() if hasattr(value, "item") else value)
        for name, value in sorted(metrics.items())
    }


def write_metrics(run_dir: str | Path, metrics: Mapping[str, Any]) -> Path:
    """The final value of every logged metric, by the name it was logged under."""
    return write_json(Path(run_dir) / METRICS_FILE, to_floats(metrics))
