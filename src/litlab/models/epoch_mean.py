"""Deprecated: moved to ``litlab.multistep.epoch_mean``. Kept for one release; every access
warns."""

from __future__ import annotations

from litlab.deprecation import moved
from litlab.multistep import epoch_mean as _new

__getattr__ = moved(__name__, {"EpochMean": _new.EpochMean})
