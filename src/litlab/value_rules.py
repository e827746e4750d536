"""A config value's allowed range as a ``Rule``, and the check that names the key it breaks.
A helper below every layer: ``litlab.validation`` checks a run's config with it, and the run
folder's guard checks a stored sweep record with it.

May import: ``litlab.errors`` only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from litlab.errors import ConfigValueError


@dataclass(frozen=True)
class Rule:
    """A value's allowed range, with the words the error message uses for it."""

    requirement: str
    holds: Callable[[Any], bool]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


POSITIVE = Rule("must be a number > 0", lambda v: _number(v) and v > 0)
POSITIVE_INT = Rule("must be a whole number > 0", lambda v: _integer(v) and v > 0)
AT_LEAST_ONE = Rule("must be a whole number >= 1", lambda v: _integer(v) and v >= 1)
NOT_NEGATIVE_INT = Rule("must be a whole number >= 0", lambda v: _integer(v) and v >= 0)
DROPOUT = Rule("must be a probability in [0, 1)", lambda v: _number(v) and 0 <= v < 1)
MIN_OR_MAX = Rule("must be min or max", lambda v: v in ("min", "max"))
NOT_NEGATIVE = Rule("must be a number >= 0", lambda v: _number(v) and v >= 0)
PROBABILITY = Rule("must be a number in [0, 1]", lambda v: _number(v) and 0 <= v <= 1)
CLIP_ALGORITHM = Rule("must be norm or value", lambda v: v in ("norm", "value"))
HIDDEN_SIZES = Rule(
    "must be a list of whole numbers > 0",
    lambda v: isinstance(v, ListConfig | list | tuple) and all(_integer(h) and h > 0 for h in v),
)

_ABSENT = object()


def check_rules(cfg: DictConfig, rules: dict[str, Rule]) -> None:
    """Each key of ``rules`` that ``cfg`` sets (None: not set) holds, or one error names it."""
    for key, rule in rules.items():
        value = OmegaConf.select(cfg, key, default=_ABSENT)
        if value is _ABSENT or value is None:
            continue
        if not rule.holds(value):
            shown = OmegaConf.to_container(value) if isinstance(value, ListConfig) else value
            raise ConfigValueError(key, shown, rule.requirement)
