"""Deprecated: moved to ``litlab.multistep.loader`` and ``litlab.multistep.callback``
(``TrainingLoop`` is now ``MultiStepCallback``). Kept for one release; every access warns."""

from __future__ import annotations

from litlab.deprecation import moved
from litlab.multistep import callback as _callback
from litlab.multistep import loader as _loader

__getattr__ = moved(
    __name__,
    {
        **{name: getattr(_loader, name) for name in dir(_loader) if not name.startswith("__")},
        "TrainingLoop": _callback.MultiStepCallback,
        "accumulation": _callback.accumulation,  # in multistep.module
    },
)
