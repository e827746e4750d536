"""Several sweepers on one study: each is a worker, numbered in the order it joined (the count
is kept in the study), and draws with a sampler seed of its own derived from ``seed``. Worker 0
keeps ``seed`` itself, so a search of one worker draws as it always did."""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
from hydra.utils import instantiate
from omegaconf import DictConfig

WORKERS_ATTR = "litlab:workers"  # a study system attribute: how many sweepers have joined
SWEEP_ATTR = "sweep_folder"  # a trial user attribute: the sweep folder holding its job


def join(study: optuna.Study) -> int:
    """This sweeper's worker number in ``study``; call it under the study's lock."""
    storage, study_id = study._storage, study._study_id
    number = int(storage.get_study_system_attrs(study_id).get(WORKERS_ATTR, 0))
    storage.set_study_system_attr(study_id, WORKERS_ATTR, number + 1)
    return number


def worker_seed(seed: int, worker: int) -> int:
    """``seed`` for worker 0; for the others a seed mixed from both (not ``seed + worker``,
    which would be worker 0's seed of another search)."""
    if worker == 0:
        return seed
    return int(np.random.SeedSequence([seed, worker]).generate_state(1)[0])


def worker_sampler(config: DictConfig | None, worker: int) -> Any:
    """The sampler config built for one worker: its ``seed`` (when it has one) derived."""
    if not config:
        return None
    seed = config.get("seed")
    return instantiate(config, **({"seed": worker_seed(int(seed), worker)} if seed is not None
                                  else {}))  # fmt: skip
