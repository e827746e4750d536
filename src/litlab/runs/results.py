"""What a run leaves in its folder for people and tools: metrics.json."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import torch


def to_floats(metrics: Mapping[str, object]) -> dict[str, float]:
    return {
        name: float(value.item() if isinstance(value, torch.Tensor) else value)
        for name, value in sorted(metrics.items())
    }


def write_metrics(run_dir: str | Path, metrics: Mapping[str, object]) -> Path:
    """The final value of every logged metric, by the name it was logged under."""
    path = Path(run_dir) / "metrics.json"
    path.write_text(json.dumps(to_floats(metrics), indent=2, sort_keys=True) + "\n")
    return path
