"""The search space, written as Hydra sweeps (the shape ``hparams_search`` configs have always
had), as Optuna distributions: ``choice(a, b)`` or ``a,b`` -> categorical, ``interval(lo, hi)``
-> uniform (``tag(log, interval(...))``: log-uniform), ``range(lo, hi, step)`` -> a stepped
uniform (integer when its bounds and step are). Hydra reads an interval's bounds as floats:
whole numbers are drawn with ``range``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    IntervalSweep,
    Override,
    RangeSweep,
    Transformer,
)
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from litlab.errors import ConfigValueError

PRIMITIVE = (str, int, float, bool, type(None))


def choices(override: Override, sweep: ChoiceSweep) -> BaseDistribution:
    values = sweep.list
    if not all(isinstance(v, PRIMITIVE) for v in values):  # lists, dicts: as Hydra writes them
        values = list(override.sweep_iterator(transformer=Transformer.encode))
    return CategoricalDistribution(values)  # type: ignore[arg-type]  # encoded to primitives


def stepped(sweep: RangeSweep) -> BaseDistribution:
    values = list(sweep.range())
    if all(isinstance(v, int) for v in (sweep.start, sweep.stop, sweep.step)):
        return IntDistribution(values[0], values[-1], step=int(sweep.step))
    return FloatDistribution(float(values[0]), float(values[-1]), step=float(sweep.step))


def interval(sweep: IntervalSweep) -> BaseDistribution:
    return FloatDistribution(float(sweep.start), float(sweep.end), log="log" in sweep.tags)  # type: ignore[arg-type]


def distribution(override: Override) -> BaseDistribution:
    """One swept key's distribution; raises ConfigValueError for a sweep Optuna cannot draw."""
    sweep = override.value()
    if isinstance(sweep, ChoiceSweep) and not sweep.shuffle:
        return choices(override, sweep)
    if isinstance(sweep, RangeSweep) and not sweep.shuffle:
        return stepped(sweep)
    if isinstance(sweep, IntervalSweep):
        return interval(sweep)
    raise ConfigValueError(
        override.get_key_element(),
        (override.input_line or "").partition("=")[2],
        "an Optuna search draws from choice(...), range(...) or interval(...), unshuffled",
    )


def search_space(
    params: Mapping[str, Any], arguments: Sequence[str]
) -> tuple[dict[str, BaseDistribution], list[str]]:
    """``hydra.sweeper.params`` and the command line's overrides -> (the distributions by key,
    the overrides every trial gets as they are). The command line's value of a key wins."""
    lines = [f"{key}={value}" for key, value in params.items()] + list(arguments)
    space: dict[str, BaseDistribution] = {}
    fixed: dict[str, str] = {}
    for override in OverridesParser.create().parse_overrides(lines):
        key = override.get_key_element()
        space.pop(key, None), fixed.pop(key, None)
        if override.is_sweep_override():
            space[key] = distribution(override)
        else:
            fixed[key] = override.input_line or f"{key}={override.get_value_element_as_str()}"
    return space, list(fixed.values())
