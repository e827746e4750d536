"""Entry point: `python train.py experiment=fashion trainer=gpu` (see README.md)."""

from __future__ import annotations

import os
import sys

import hydra
from omegaconf import DictConfig

from litlab.errors import UserError
from litlab.sweep_job import is_multirun, run_recorded
from litlab.train import run


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    if is_multirun():  # a failed job is recorded in its folder and the sweep goes on
        return run_recorded(cfg, run)
    try:
        return run(cfg)
    except UserError as error:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
