"""What a run prints: the composed config first, a summary with the run folder last."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from litlab.results import to_floats
from litlab.tensorboard import config_dict


def print_config(cfg: DictConfig) -> None:
    print("Config (python train.py --cfg job prints it without running):")
    print(OmegaConf.to_yaml(config_dict(cfg)).rstrip())


def print_summary(metrics: Mapping[str, object], run_dir: Path) -> None:
    """Final metrics, then the run folder; that last line is what tools look for."""
    values = to_floats(metrics)
    width = max((len(name) for name in values), default=0)
    print("\nFinal metrics:")
    for name, value in values.items():
        print(f"  {name:<{width}}  {value:.6g}")
    print(f"Run folder: {run_dir.resolve()}")
