"""One spelling of a metric's direction: ``optimized_metric_mode: max`` (or ``min``) in the
experiment config. The checkpoint's ``mode:`` is ``${optimized_metric_mode}`` itself; Optuna
spells it ``maximize``/``minimize``, so the search's ``direction:`` is
``${litlab.optuna_direction:${optimized_metric_mode}}`` (conf/hydra/sweeper/litlab_optuna.yaml).
A config that sets ``hydra.sweeper.direction: maximize`` itself (an earlier version's) keeps it.

May import: ``litlab.errors`` only.
"""

from __future__ import annotations

from omegaconf import OmegaConf

from litlab.errors import ConfigValueError

OPTUNA_DIRECTIONS = {"max": "maximize", "min": "minimize"}


def optuna_direction(mode: str) -> str:
    """``max`` -> ``maximize``, ``min`` -> ``minimize`` (Optuna's own words pass through)."""
    if mode in OPTUNA_DIRECTIONS.values():
        return mode
    if mode not in OPTUNA_DIRECTIONS:
        raise ConfigValueError("optimized_metric_mode", mode, "must be min or max")
    return OPTUNA_DIRECTIONS[mode]


def register_resolvers() -> None:
    OmegaConf.register_new_resolver("litlab.optuna_direction", optuna_direction, replace=True)
