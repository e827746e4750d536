"""The run's seed: the configured one, or (``seed=null``) one drawn fresh, used and recorded."""

from __future__ import annotations

import logging
import os
import secrets

import lightning as L
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, open_dict

from litlab.errors import ConfigValueError

log = logging.getLogger(__name__)

# numpy's seeds are 32-bit; Lightning's seed_everything enforces the same range.
MAX_SEED = 2**32 - 1


def draw_seed() -> int:
    """A fresh seed; DDP worker processes take the one rank 0 drew (Lightning passes it on in
    ``PL_GLOBAL_SEED``), so that all ranks start from the same seed."""
    inherited = os.environ.get("PL_GLOBAL_SEED")
    if rank_zero_only.rank > 0 and inherited is not None:  # type: ignore[attr-defined]  # set by Lightning
        return int(inherited)
    return secrets.randbelow(MAX_SEED + 1)


def resolve_seed(cfg: DictConfig) -> int:
    """Return the run's seed, writing a drawn one into ``cfg.seed`` so that everything that
    interpolates ``${seed}`` (the data module, the run record) uses and records it."""
    seed = cfg.get("seed")
    if seed is None:
        seed = draw_seed()
        with open_dict(cfg):
            cfg.seed = seed
        log.info(f"seed=null: drew seed {seed}; repeat this run with seed={seed}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ConfigValueError("seed", seed, f"an integer in [0, {MAX_SEED}], or null to draw one")
    return seed


def seed_run(cfg: DictConfig) -> int:
    """Seed python, numpy and torch (CUDA too) and DataLoader workers; 0 is a seed like any."""
    seed = resolve_seed(cfg)
    L.seed_everything(seed, workers=True)
    return seed
